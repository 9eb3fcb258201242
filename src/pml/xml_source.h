// Internal to pcache_pml: an XML text parsed by pugixml, with every node and
// attribute mapped back to its line and column, and the helpers that the
// schema and prompt parsers share.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <pugixml.hpp>
#include <string>
#include <vector>

#include "pml/pml.h"

namespace pcache::pml {

// Byte offsets -> 1-based line:column. Columns count characters (UTF-8 code
// points), as editors show them; "\n", "\r\n" and a lone "\r" end a line.
class LineIndex {
 public:
  LineIndex(const std::string& text, std::string file);
  SourceLocation at(size_t offset) const;
  const std::string& file() const { return file_; }

 private:
  const std::string& text_;
  std::string file_;
  std::vector<size_t> line_starts_;
  // Where the last column count ended: parsers ask in document order, so
  // counting on from there keeps a long single-line input linear.
  mutable size_t last_offset_ = 0;
  mutable int last_column_ = 1;
};

// "file:line:column: message" as InvalidArgument: every PML error looks so.
Status error_at(const SourceLocation& location, const std::string& message);

// A run of adjacent character data (text and CDATA; comments in between are
// dropped), trimmed of leading and trailing whitespace.
struct TextRun {
  std::string text;         // trimmed; empty for a run of whitespace only
  SourceLocation location;  // its first non-whitespace character
};

// Whitespace as PML trims it.
bool is_space(char c);
std::string trim(const std::string& s);

// Names of modules and parameters: a letter or '_', then letters, digits,
// '_', '-' or '.'. Prompts write them as XML element and attribute names, so
// they must start as XML names do; no '/' so that paths are unambiguous.
bool is_valid_name(const std::string& name);
// Schema names: letters, digits, '_', '-' and '.'.
bool is_valid_schema_name(const std::string& name);
extern const char* const kNameRule;

// "user" -> kUser ...; kNone for any other name.
Role role_of(const char* element_name);

class XmlSource {
 public:
  XmlSource(const std::string& text, const std::string& file);
  XmlSource(const XmlSource&) = delete;
  XmlSource& operator=(const XmlSource&) = delete;

  // Checks size and content, parses, and returns the single root element.
  // `expected_root` ("<schema name=\"...\">") completes the messages about
  // empty input.
  StatusOr<pugi::xml_node> parse(const std::string& expected_root);

  SourceLocation at(size_t offset) const { return lines_.at(offset); }
  SourceLocation at(pugi::xml_node element) const;         // its '<'
  SourceLocation at(pugi::xml_attribute attribute) const;  // its name
  const LineIndex& lines() const { return lines_; }

  // The children of `element`, in order: elements as they are, character data
  // gathered into TextRuns. Calls on_text(run) and on_element(node); stops at
  // the first error either returns.
  template <typename OnText, typename OnElement>
  Status for_each_child(pugi::xml_node element, OnText on_text, OnElement on_element) const;

  // Error (at the offending attribute) for an attribute not in `allowed` or
  // given twice. `what` names the element ("<module>").
  Status check_attributes(pugi::xml_node element, std::initializer_list<const char*> allowed,
                          const std::string& what) const;

 private:
  TextRun gather(const std::vector<pugi::xml_node>& pieces) const;
  size_t offset_of(const char* p) const;

  const std::string& text_;
  LineIndex lines_;
  std::vector<char> buffer_;  // parsed in place, so every name and value points into it
  pugi::xml_document doc_;
};

template <typename OnText, typename OnElement>
Status XmlSource::for_each_child(pugi::xml_node element, OnText on_text,
                                 OnElement on_element) const {
  std::vector<pugi::xml_node> pieces;
  auto flush = [&]() -> Status {
    if (pieces.empty()) return Status::ok_status();
    TextRun run = gather(pieces);
    pieces.clear();
    return on_text(run);
  };
  for (pugi::xml_node child : element.children()) {
    switch (child.type()) {
      case pugi::node_pcdata:
      case pugi::node_cdata: pieces.push_back(child); break;
      case pugi::node_element:
        PCACHE_RETURN_IF_ERROR(flush());
        PCACHE_RETURN_IF_ERROR(on_element(child));
        break;
      default:  // comments, processing instructions: not parsed, so not here
        break;
    }
  }
  return flush();
}

// The parsers.
StatusOr<Schema> parse_schema_in(const std::string& text, const std::string& file_name,
                                 const SourceFiles& files);
StatusOr<Prompt> parse_prompt_text(const std::string& text, const std::string& file_name);

}  // namespace pcache::pml
