#include "tokenizer/regex_splitter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "util/excerpt.h"
#include "util/utf8.h"

namespace pcache::tokenizer_internal {

struct RegexSplitter::Code {
  explicit Code(pcre2_code* c) : code(c) {}
  ~Code() { pcre2_code_free(code); }
  pcre2_code* code;
};

StatusOr<RegexSplitter> RegexSplitter::compile(const std::string& pattern,
                                               const std::string& source) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return Status::invalid_argument(source + ": regex " + excerpt(pattern) + " at offset " +
                                    std::to_string(offset) + ": " +
                                    reinterpret_cast<const char*>(message));
  }
  // JIT where PCRE2 has it; the interpreter gives the same matches otherwise.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return RegexSplitter(std::make_shared<const Code>(code));
}

std::vector<std::string_view> RegexSplitter::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(code_->code, nullptr), &pcre2_match_data_free);
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t done = 0, at = 0;
  while (at < text.size()) {
    const int rc = pcre2_match(code_->code, subject, text.size(), at, PCRE2_NO_UTF_CHECK,
                               match.get(), nullptr);
    if (rc < 0) break;  // no match (or PCRE2 gave up): the rest is one piece
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.get());
    const size_t begin = ov[0], end = ov[1];
    if (end == begin) {  // an empty match: look again one character further
      at = begin + std::max<size_t>(1, utf8_char_length(text.substr(begin)));
      continue;
    }
    if (begin > done) pieces.push_back(text.substr(done, begin - done));
    pieces.push_back(text.substr(begin, end - begin));
    done = at = end;
  }
  if (done < text.size()) pieces.push_back(text.substr(done));
  return pieces;
}

}  // namespace pcache::tokenizer_internal
