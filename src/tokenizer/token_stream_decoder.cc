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

std::string TokenStreamDecoder::decode_from(size_t begin) const {
  return tokenizer_.decode(std::vector<int>(ids_.begin() + static_cast<std::ptrdiff_t>(begin), ids_.end()));
}

std::string TokenStreamDecoder::push(int id) {
  ids_.push_back(id);
  // Decoding a window, not everything again (which costs O(n) per token):
  // the ids whose text went out last time give the new ones their context
  // (SentencePiece's leading space, multi-piece characters), and their own
  // text, decoded the same way, is what to skip.
  std::string text = decode_from(window_begin_);
  if (text.size() <= window_emitted_ || ends_mid_character(text) ||
      ends_with_replacement_character(text)) {
    return {};
  }
  return take(text);
}

std::string TokenStreamDecoder::flush() {
  std::string text = decode_from(window_begin_);
  return text.size() <= window_emitted_ ? std::string() : take(text);
}

std::string TokenStreamDecoder::take(const std::string& text) {
  std::string added = text.substr(window_emitted_);
  // Everything is out now: the next window starts after what the last one
  // had emitted before this.
  window_begin_ = window_read_;
  window_read_ = ids_.size();
  window_emitted_ = decode_from(window_begin_).size();
  return added;
}

}  // namespace pcache
