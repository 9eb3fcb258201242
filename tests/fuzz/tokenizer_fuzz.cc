// Fuzz target: the tokenizer on arbitrary bytes (invalid UTF-8 included):
// encode, decode what it gave, and decode the bytes read as token ids (in
// range or not).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const pcache::Tokenizer& tok = pcache::fuzz::tokenizer();
  std::vector<int> ids = tok.encode(std::string_view(reinterpret_cast<const char*>(data), size));
  (void)tok.decode(ids);
  std::vector<int> raw(size / sizeof(int));
  if (!raw.empty()) std::memcpy(raw.data(), data, raw.size() * sizeof(int));
  (void)tok.decode(raw);
  for (int id : raw) {
    if (id >= 0 && id < tok.vocab_size()) (void)tok.id_to_piece(id);
    (void)tok.is_control(id);
  }
  return 0;
}
