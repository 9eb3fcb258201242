// Fuzz target: a tokenizer.json (byte-level BPE) loaded from the bytes, then,
// when it loads, used: a text with special tokens and bytes that are not
// UTF-8 encoded both ways and decoded, and a conversation in the template its
// vocabulary suits.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "pcache/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tok = pcache::Tokenizer::load(pcache::fuzz::write_temp_file("tokenizer.json", data, size));
  if (!tok.ok()) return 0;
  const std::string text =
      "Hello  world's 123 <|im_start|><|begin_of_text|> caf\xC3\xA9 \xE2\x82 \xF0\x9F\x98\x80";
  (void)(*tok)->decode((*tok)->encode(text));
  (void)(*tok)->decode((*tok)->encode_with_special_tokens(text));
  pcache::TokenStreamDecoder stream(**tok);
  for (int id : (*tok)->encode(text)) (void)stream.push(id);
  (void)stream.flush();
  if (auto family = (*tok)->default_chat_template(); family.ok()) {
    (void)(*tok)->apply_chat_template({{"system", "s"}, {"user", "u"}}, *family, true);
  }
  return 0;
}
