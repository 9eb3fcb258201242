#include "util/percent_escape.h"

namespace pcache {

void append_percent_escaped(std::string& out, std::string_view text, std::string_view reserved) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : text) {
    if (c == '%' || reserved.find(c) != std::string_view::npos) {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    } else {
      out += c;
    }
  }
}

}  // namespace pcache
