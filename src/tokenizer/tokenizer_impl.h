// Tokenizer::Impl: what a tokenizer file gives the public Tokenizer, one
// implementation per file format (SentencePiece's tokenizer.model in
// tokenizer.cc, tokenizer.json's byte-level BPE in bpe_tokenizer.cc).
// Immutable once loaded; every method is safe from several threads at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pcache/tokenizer.h"

namespace pcache {

struct Tokenizer::Impl {
  virtual ~Impl() = default;
  // `special`: as the format's own default for a whole input (tokenizers'
  // encode(text), SentencePiece with bos): special tokens written in the text
  // are their ids and the tokens a sequence starts (and ends) with are added.
  // Otherwise the text is only text.
  virtual std::vector<int> encode(std::string_view text, bool special) const = 0;
  // Special (control) tokens decode to nothing; ids out of range are skipped.
  virtual std::string decode(const std::vector<int>& ids) const = 0;
  virtual std::optional<int> piece_to_id(std::string_view piece) const = 0;
  virtual std::string id_to_piece(int id) const = 0;
  virtual bool is_control(int id) const = 0;

  int vocab_size = 0;
  int bos_id = -1;  // -1: the format has none (Qwen 2)
  int eos_id = -1;
  int unk_id = -1;
  int64_t max_piece_bytes = 1;  // the most input bytes one piece covers
  // The checkpoint's chat template (Jinja) and the file it was read from;
  // empty when it ships none.
  std::string chat_template;
  std::string chat_template_file;
};

}  // namespace pcache
