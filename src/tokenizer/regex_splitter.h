// RegexSplitter: Hugging Face tokenizers' Split pre-tokenizer with a regex and
// the "Isolated" behaviour: the text is cut into the matches of the pattern
// and the runs between them, each a piece of its own. The regex engine is
// PCRE2 in UTF mode with Unicode properties (\p{L}, \p{N}, and \s, \w, \d over
// all of Unicode), which reads the patterns of Llama 3, Qwen 2 and GPT-2 as
// Oniguruma (tokenizers' engine) does.
//
// Contract: the text given to split() is valid UTF-8 (replace_invalid_utf8).
// Immutable once compiled; split() is safe from several threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pcache/status.h"

namespace pcache::tokenizer_internal {

class RegexSplitter {
 public:
  // InvalidArgument naming `source`, the error and its offset in the pattern
  // when PCRE2 refuses it.
  static StatusOr<RegexSplitter> compile(const std::string& pattern, const std::string& source);

  // The pieces of `text` in order; together they are `text`. Empty matches
  // are not pieces. Should PCRE2 give up on a match (its match limit), the
  // rest of the text is one piece.
  std::vector<std::string_view> split(std::string_view text) const;

 private:
  struct Code;
  explicit RegexSplitter(std::shared_ptr<const Code> code) : code_(std::move(code)) {}
  std::shared_ptr<const Code> code_;
};

}  // namespace pcache::tokenizer_internal
