// Fuzz target: the tokenizers (SentencePiece and byte-level BPE) on arbitrary
// bytes (invalid UTF-8 included): encode (the BPE one also with special
// tokens parsed), decode what it gave, stream it, and decode the bytes read as
// token ids (in range or not).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_tokenizer.h"

namespace {

void run(const pcache::Tokenizer& tok, std::string_view text, const std::vector<int>& raw) {
  std::vector<int> ids = tok.encode(text);
  (void)tok.decode(ids);
  (void)tok.decode(tok.encode_with_special_tokens(text));
  pcache::TokenStreamDecoder stream(tok);
  for (int id : ids) (void)stream.push(id);
  (void)stream.flush();
  (void)tok.decode(raw);
  for (int id : raw) {
    (void)tok.id_to_piece(id);
    (void)tok.is_control(id);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<int> raw(size / sizeof(int));
  if (!raw.empty()) std::memcpy(raw.data(), data, raw.size() * sizeof(int));
  run(pcache::fuzz::tokenizer(), text, raw);
  run(pcache::fuzz::bpe_tokenizer(), text, raw);
  return 0;
}
