#include "pml/xml_source.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "util/file_util.h"

namespace pcache::pml {
namespace {

// What pugixml's status means for the author, and what it wanted instead.
std::string xml_hint(pugi::xml_parse_status status) {
  switch (status) {
    case pugi::status_unrecognized_tag:
      return "expected an element name, '/', '!' or '?' after '<' (write &lt; for a literal '<')";
    case pugi::status_bad_pi: return "expected a processing instruction ending in '?>'";
    case pugi::status_bad_comment: return "expected a comment ending in '-->'";
    case pugi::status_bad_cdata: return "expected a CDATA section ending in ']]>'";
    case pugi::status_bad_doctype: return "expected a document type declaration ending in '>'";
    case pugi::status_bad_pcdata: return "expected character data";
    case pugi::status_bad_start_element:
      return "expected an element name, then attributes, then '>' or '/>'";
    case pugi::status_bad_attribute:
      return "expected attributes as name=\"value\", with the value quoted";
    case pugi::status_bad_end_element: return "expected an end tag such as </module>";
    case pugi::status_end_element_mismatch:
      return "expected the end tag of the element that is open";
    default: return "expected well-formed XML";
  }
}

std::string too_large(size_t bytes) {
  return "input is " + std::to_string(bytes) + " bytes, more than the limit of " +
         std::to_string(kMaxSourceBytes) + "; expected a smaller file";
}

}  // namespace

const char* const kNameRule = "a letter or '_', then letters, digits, '_', '-' or '.'";

LineIndex::LineIndex(const std::string& text, std::string file)
    : text_(text), file_(std::move(file)) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' || (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n'))) {
      line_starts_.push_back(i + 1);
    }
  }
}

SourceLocation LineIndex::at(size_t offset) const {
  offset = std::min(offset, text_.size());
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  const size_t line = static_cast<size_t>(it - line_starts_.begin());  // >= 1
  const size_t start = line_starts_[line - 1];
  size_t from = start;
  int column = 1;
  if (last_offset_ >= start && last_offset_ <= offset) {
    from = last_offset_;
    column = last_column_;
  }
  for (size_t i = from; i < offset; ++i) {
    // UTF-8 continuation bytes (10xxxxxx) do not start a character.
    if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++column;
  }
  last_offset_ = offset;
  last_column_ = column;
  return SourceLocation{file_, static_cast<int>(line), column};
}

Status error_at(const SourceLocation& location, const std::string& message) {
  return Status::invalid_argument(location.to_string() + ": " + message);
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string trim(const std::string& s) {
  size_t begin = 0, end = s.size();
  while (begin < end && is_space(s[begin])) ++begin;
  while (end > begin && is_space(s[end - 1])) --end;
  return s.substr(begin, end - begin);
}

bool is_valid_schema_name(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool is_valid_name(const std::string& name) {
  if (!is_valid_schema_name(name)) return false;
  const char c = name[0];
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

Role role_of(const char* element_name) {
  if (std::strcmp(element_name, "system") == 0) return Role::kSystem;
  if (std::strcmp(element_name, "user") == 0) return Role::kUser;
  if (std::strcmp(element_name, "assistant") == 0) return Role::kAssistant;
  return Role::kNone;
}

XmlSource::XmlSource(const std::string& text, const std::string& file)
    : text_(text), lines_(text, file) {}

size_t XmlSource::offset_of(const char* p) const {
  if (p < buffer_.data() || p >= buffer_.data() + buffer_.size()) return 0;
  return static_cast<size_t>(p - buffer_.data());
}

SourceLocation XmlSource::at(pugi::xml_node element) const {
  const size_t name = offset_of(element.name());
  return at(name > 0 ? name - 1 : 0);
}

SourceLocation XmlSource::at(pugi::xml_attribute attribute) const {
  return at(offset_of(attribute.name()));
}

StatusOr<pugi::xml_node> XmlSource::parse(const std::string& expected_root) {
  if (text_.size() > kMaxSourceBytes) {
    return error_at(at(0), too_large(text_.size()));
  }
  size_t first = 0;
  if (text_.compare(0, 3, "\xEF\xBB\xBF") == 0) first = 3;  // UTF-8 byte order mark
  while (first < text_.size() && is_space(text_[first])) ++first;
  if (first == text_.size()) return error_at(at(0), "empty input; expected " + expected_root);
  if (size_t nul = text_.find('\0'); nul != std::string::npos) {
    return error_at(at(nul), "NUL byte in the input; expected text");
  }

  buffer_.assign(text_.begin(), text_.end());
  // pugixml parses a fragment in place only up to its last character unless a
  // terminator follows it; a fragment lets us see text outside the root.
  buffer_.push_back('\0');
  // parse_doctype keeps a DOCTYPE as a node, so that it is refused below
  // rather than skipped.
  const unsigned options =
      pugi::parse_default | pugi::parse_ws_pcdata | pugi::parse_fragment | pugi::parse_doctype;
  pugi::xml_parse_result result =
      doc_.load_buffer_inplace(buffer_.data(), buffer_.size(), options, pugi::encoding_utf8);
  if (!result) {
    size_t offset = static_cast<size_t>(std::max<ptrdiff_t>(result.offset, 0));
    std::string hint = xml_hint(result.status);
    // pugixml says "mismatch" both for a wrong end tag (its offset then is the
    // name after "</") and for an input that ends with elements open.
    if (result.status == pugi::status_end_element_mismatch &&
        (offset < 2 || offset > text_.size() || text_.compare(offset - 2, 2, "</") != 0)) {
      offset = text_.size();
      hint = "the input ends inside an element; expected its end tag";
    }
    return error_at(at(offset),
                    std::string("malformed XML: ") + result.description() + "; " + hint);
  }

  pugi::xml_node root;
  for (pugi::xml_node n : doc_.children()) {
    if (n.type() == pugi::node_doctype) {
      // pugixml never expands external entities, but a DTD has no use in PML
      // and refusing it leaves no doubt.
      const size_t value = offset_of(n.value());
      return error_at(at(value >= 10 ? value - 10 : 0),
                      "document type declaration (<!DOCTYPE ...>) in the input; PML has no DTDs "
                      "or entities; expected " + expected_root);
    }
    if (n.type() == pugi::node_element) {
      if (root) {
        return error_at(at(n), "second root element <" + std::string(n.name()) +
                                   ">; expected a single root element " + expected_root);
      }
      root = n;
    } else if (n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata) {
      TextRun run = gather({n});
      if (!run.text.empty()) {
        return error_at(run.location,
                        "text outside the root element; expected only " + expected_root);
      }
    }
  }
  if (!root) return error_at(at(0), "no element in the input; expected " + expected_root);
  return root;
}

TextRun XmlSource::gather(const std::vector<pugi::xml_node>& pieces) const {
  TextRun run;
  std::string all;
  bool located = false;
  for (pugi::xml_node piece : pieces) {
    const std::string value = piece.value();
    all += value;
    if (located) continue;
    // The location is that of the first character kept: skip the raw
    // whitespace of the first piece that has something else.
    size_t k = 0;
    while (k < value.size() && is_space(value[k])) ++k;
    if (k == value.size()) continue;
    size_t offset = offset_of(piece.value());
    while (offset < text_.size() && is_space(text_[offset])) ++offset;
    run.location = at(offset);
    located = true;
  }
  run.text = trim(all);
  if (!located && !pieces.empty()) run.location = at(offset_of(pieces.front().value()));
  return run;
}

Status XmlSource::check_attributes(pugi::xml_node element,
                                   std::initializer_list<const char*> allowed,
                                   const std::string& what) const {
  std::set<std::string> seen;
  for (pugi::xml_attribute a : element.attributes()) {
    const std::string name = a.name();
    if (!seen.insert(name).second) {
      return error_at(at(a), "duplicate attribute '" + name + "' on " + what +
                                 "; expected each attribute at most once");
    }
    if (allowed.size() == 0) {
      return error_at(
          at(a), "unknown attribute '" + name + "' on " + what + "; expected no attributes there");
    }
    bool known = false;
    std::string list;
    size_t i = 0;
    for (const char* ok : allowed) {
      if (name == ok) known = true;
      if (i > 0) list += (i + 1 == allowed.size()) ? " or " : ", ";
      list += ok;
      ++i;
    }
    if (!known) {
      return error_at(at(a), "unknown attribute '" + name + "' on " + what + "; expected " + list);
    }
  }
  return Status::ok_status();
}

StatusOr<std::string> read_source_file(const std::string& path) {
  return read_file(path, kMaxSourceBytes, "PML files");
}

}  // namespace pcache::pml
