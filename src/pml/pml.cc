// Names, locations and the file entry points of PML; the parsers are in
// schema_parser.cc and prompt_parser.cc, bind() in bind.cc.
#include "pml/pml.h"

#include "pml/xml_source.h"

namespace pcache::pml {
namespace {

// The folder holding `path`, with its trailing '/', or "" for a bare name.
std::string folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

}  // namespace

std::string SourceLocation::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

const char* role_name(Role role) {
  switch (role) {
    case Role::kNone: return "";
    case Role::kSystem: return "system";
    case Role::kUser: return "user";
    case Role::kAssistant: return "assistant";
  }
  return "";
}

const char* encoding_mode_name(EncodingMode mode) {
  switch (mode) {
    case EncodingMode::kIndependent: return "independent";
    case EncodingMode::kScaffold: return "scaffold";
  }
  return "";
}

StatusOr<Schema> parse_schema(const std::string& text, const std::string& file_name,
                              const SourceFiles& files) {
  return parse_schema_in(text, file_name, files);
}

StatusOr<Prompt> parse_prompt(const std::string& text, const std::string& file_name) {
  return parse_prompt_text(text, file_name);
}

StatusOr<Schema> load_schema(const std::string& path, SourceFiles::Access access) {
  PCACHE_ASSIGN_OR_RETURN(std::string text, read_source_file(path));
  return parse_schema_in(text, path, SourceFiles{folder_of(path), access});
}

StatusOr<Prompt> load_prompt(const std::string& path) {
  PCACHE_ASSIGN_OR_RETURN(std::string text, read_source_file(path));
  return parse_prompt_text(text, path);
}

}  // namespace pcache::pml
