// GPT-2's byte-level alphabet (Hugging Face tokenizers' ByteLevel
// pre-tokenizer and decoder): each of the 256 byte values stands for one
// printable character, so that a vocabulary of strings covers any bytes.
// Bytes 0x21..0x7E, 0xA1..0xAC and 0xAE..0xFF are their own code point; the
// other 68 map, in order, to U+0100..U+0143 (a space is "Ġ" U+0120, "\n" "Ċ").
#pragma once

#include <string>
#include <string_view>

namespace pcache::tokenizer_internal {

// `bytes` written in the alphabet (UTF-8 of the characters).
std::string byte_level_encode(std::string_view bytes);

// The bytes that `piece` (UTF-8) stands for, appended to `out`; false, with
// `out` unchanged, when a character of it is not in the alphabet.
bool byte_level_decode(std::string_view piece, std::string* out);

}  // namespace pcache::tokenizer_internal
