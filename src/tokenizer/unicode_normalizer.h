// Unicode normalization forms (tokenizer.json's NFC, NFD, NFKC and NFKD
// normalizers; Qwen 2 uses NFC), by utf8proc.
#pragma once

#include <string>
#include <string_view>

namespace pcache::tokenizer_internal {

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };

// `text` (valid UTF-8) in the given form; unchanged should utf8proc refuse it.
std::string normalize(std::string_view text, NormalForm form);

}  // namespace pcache::tokenizer_internal
