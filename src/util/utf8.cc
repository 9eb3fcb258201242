#include "util/utf8.h"

namespace pcache {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// How many bytes of a character start at `bytes` (0 for a byte that cannot
// start one) and the bytes of its well-formed prefix there (at least 1).
struct Prefix {
  size_t expected = 0;
  size_t valid = 1;
};

Prefix well_formed_prefix(std::string_view bytes) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  const unsigned char lead = b(0);
  Prefix p;
  // Table 3-7 of the Unicode standard: the range of the second byte depends
  // on the lead (no overlongs, no surrogates, nothing past U+10FFFF).
  unsigned char low = 0x80, high = 0xBF;
  if (lead < 0x80) {
    p.expected = 1;
  } else if (lead >= 0xC2 && lead <= 0xDF) {
    p.expected = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    p.expected = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    p.expected = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return p;  // 0x80..0xC1, 0xF5..0xFF never start a character
  }
  for (size_t i = 1; i < p.expected && i < bytes.size(); ++i) {
    const unsigned char c = b(i);
    if (i == 1 ? (c < low || c > high) : (c < 0x80 || c > 0xBF)) break;
    p.valid = i + 1;
  }
  return p;
}

}  // namespace

size_t utf8_char_length(std::string_view bytes) {
  if (bytes.empty()) return 0;
  const Prefix p = well_formed_prefix(bytes);
  return p.valid == p.expected ? p.expected : 0;
}

std::string replace_invalid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const Prefix p = well_formed_prefix(bytes.substr(i));
    if (p.valid == p.expected) {
      out.append(bytes.substr(i, p.valid));
    } else {
      out.append(kReplacement);
    }
    i += p.valid;
  }
  return out;
}

}  // namespace pcache
