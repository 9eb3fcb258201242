#include "tokenizer/byte_level.h"

#include <array>

#include "util/utf8.h"

namespace pcache::tokenizer_internal {
namespace {

struct Alphabet {
  std::array<char32_t, 256> char_of{};  // byte -> code point
  std::array<int, 0x144> byte_of{};     // code point -> byte, -1 when none

  Alphabet() {
    byte_of.fill(-1);
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      char_of[b] = printable ? static_cast<char32_t>(b) : next++;
      byte_of[char_of[b]] = b;
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    const char32_t c = alphabet().char_of[b];  // below U+0800: one or two bytes
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

bool byte_level_decode(std::string_view piece, std::string* out) {
  const size_t start = out->size();
  size_t i = 0;
  while (i < piece.size()) {
    const auto b0 = static_cast<unsigned char>(piece[i]);
    char32_t c = 0;
    size_t n = utf8_char_length(piece.substr(i));
    if (n == 1) {
      c = b0;
    } else if (n == 2) {
      c = ((b0 & 0x1Fu) << 6) | (static_cast<unsigned char>(piece[i + 1]) & 0x3Fu);
    }
    if (n == 0 || n > 2 || c >= alphabet().byte_of.size() || alphabet().byte_of[c] < 0) {
      out->resize(start);
      return false;
    }
    out->push_back(static_cast<char>(alphabet().byte_of[c]));
    i += n;
  }
  return true;
}

}  // namespace pcache::tokenizer_internal
