#include <string>
#include <string_view>

#include "pcache/tokenizer.h"

namespace pcache {
namespace {

// True when `text` ends inside a multibyte UTF-8 character.
bool ends_mid_character(std::string_view text) {
  // A character is at most 4 bytes, so its lead byte is among the last 4.
  for (size_t back = 1; back <= 4 && back <= text.size(); ++back) {
    auto byte = static_cast<unsigned char>(text[text.size() - back]);
    if ((byte & 0xC0) == 0x80) continue;  // continuation byte
    size_t length = (byte & 0x80) == 0x00   ? 1
                    : (byte & 0xE0) == 0xC0 ? 2
                    : (byte & 0xF0) == 0xE0 ? 3
                    : (byte & 0xF8) == 0xF0 ? 4
                                            : 1;  // invalid lead: nothing to wait for
    return back < length;
  }
  return false;
}

// SentencePiece decodes the bytes of an unfinished character (byte-fallback
// pieces arriving one at a time) as U+FFFD until the last one comes.
bool ends_with_replacement_character(std::string_view text) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  return text.size() >= kReplacement.size() &&
         text.substr(text.size() - kReplacement.size()) == kReplacement;
}

}  // namespace

std::string TokenStreamDecoder::push(int id) {
  ids_.push_back(id);
  // Decoding everything again, not just `id`, keeps SentencePiece's handling of
  // the leading space and of multi-piece characters exact.
  std::string text = tokenizer_.decode(ids_);
  if (text.size() <= emitted_ || ends_mid_character(text) ||
      ends_with_replacement_character(text)) {
    return {};
  }
  std::string added = text.substr(emitted_);
  emitted_ = text.size();
  return added;
}

std::string TokenStreamDecoder::flush() {
  std::string text = tokenizer_.decode(ids_);
  if (text.size() <= emitted_) return {};
  std::string rest = text.substr(emitted_);
  emitted_ = text.size();
  return rest;
}

}  // namespace pcache
