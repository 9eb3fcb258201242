#include "tokenizer/chat_format.h"

#include <utf8proc.h>

#include <ctime>
#include <string_view>

namespace pcache {
namespace tokenizer_internal {
namespace {

// The length of the character at s[at] (UTF-8) when Python's str.isspace()
// holds for it (general category Zs, or bidirectional class WS, B or S), else 0.
size_t space_at(const std::string& s, size_t at) {
  if (at >= s.size()) return 0;
  utf8proc_int32_t c = 0;
  const utf8proc_ssize_t n =
      utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + at),
                       static_cast<utf8proc_ssize_t>(s.size() - at), &c);
  if (n <= 0) return 0;
  const utf8proc_property_t* p = utf8proc_get_property(c);
  const bool space =
      p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
      p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
  return space ? static_cast<size_t>(n) : 0;
}

}  // namespace

std::string strip(const std::string& s) {
  size_t begin = 0;
  while (size_t n = space_at(s, begin)) begin += n;
  size_t end = s.size();
  while (end > begin) {
    // Step back to the start of the last character, then test it.
    size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    if (space_at(s, start) != end - start) break;
    end = start;
  }
  return s.substr(begin, end - begin);
}

StatusOr<int> special_token(const Tokenizer& tokenizer, const char* piece, const char* family) {
  auto id = tokenizer.piece_to_id(piece);
  if (!id || !tokenizer.is_control(*id)) {
    return Status::invalid_argument(std::string("chat template ") + family +
                                    ": this tokenizer has no " + piece + " special token");
  }
  return *id;
}

namespace {

// A string literal of the template that follows `marker` up to `end` (both
// inside the literal): Qwen's default system prompt, Llama 3.1's dates. The
// template's own escapes (\n, \', \") are undone.
std::optional<std::string> literal_after(const std::string& jinja, std::string_view marker,
                                         std::string_view end) {
  const size_t at = jinja.find(marker);
  if (at == std::string::npos) return std::nullopt;
  const size_t begin = at + marker.size();
  const size_t stop = jinja.find(end, begin);
  if (stop == std::string::npos) return std::nullopt;
  std::string out;
  for (size_t i = begin; i < stop; ++i) {
    if (jinja[i] == '\\' && i + 1 < stop) {
      const char e = jinja[++i];
      out.push_back(e == 'n' ? '\n' : e);
    } else if (jinja[i] == '\'' || jinja[i] == '"' || jinja[i] == '{' || jinja[i] == '+') {
      return std::nullopt;  // not one literal: an expression
    } else {
      out.push_back(jinja[i]);
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> chatml_default_system(const std::string& jinja) {
  for (std::string_view marker : {"<|im_start|>system\\n", "<|im_start|>system\n"}) {
    for (size_t at = jinja.find(marker); at != std::string::npos; at = jinja.find(marker, at + 1)) {
      auto text = literal_after(jinja.substr(at), marker, "<|im_end|>");
      if (text && !text->empty()) return text;
    }
  }
  return std::nullopt;
}

std::optional<std::string> llama3_system_preamble(const std::string& jinja) {
  auto cutoff = literal_after(jinja, "Cutting Knowledge Date: ", "\\n");
  if (!cutoff) return std::nullopt;
  std::string date;
  if (auto literal = literal_after(jinja, "set date_string = \"", "\"")) {
    date = *literal;
  } else {
    char buf[32];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    std::strftime(buf, sizeof(buf), "%d %b %Y", &tm);
    date = buf;
  }
  return "Cutting Knowledge Date: " + *cutoff + "\nToday Date: " + date + "\n\n";
}

}  // namespace tokenizer_internal

}  // namespace pcache
