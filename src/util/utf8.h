// UTF-8 as text models take it: every input is made valid the way Python's
// bytes.decode("utf-8", errors="replace") and Rust's String::from_utf8_lossy
// do it (which is what Hugging Face tokenizers see of bytes that are not
// UTF-8), so pcache tokenizes and decodes such bytes exactly as they do.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pcache {

// `bytes` with each maximal ill-formed subpart (Unicode 15, section 3.9, "U+FFFD
// substitution of maximal subparts": a lone continuation byte, a lead byte
// whose sequence is cut short, an overlong form, a surrogate, a code point past
// U+10FFFF) replaced by U+FFFD. Valid input comes back unchanged.
std::string replace_invalid_utf8(std::string_view bytes);

// The length of the well-formed UTF-8 character at the start of `bytes`, or 0
// when none starts there (see above).
size_t utf8_char_length(std::string_view bytes);

}  // namespace pcache
