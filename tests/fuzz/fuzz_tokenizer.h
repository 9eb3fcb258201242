// The tiny models' tokenizer and a byte-level BPE one (the Qwen 2 fixture's
// tokenizer.json), loaded once, for targets that need one.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "fuzz/fuzz_util.h"
#include "pcache/tokenizer.h"

namespace pcache::fuzz {

inline std::unique_ptr<Tokenizer> load_or_abort(const std::string& path) {
  auto t = Tokenizer::load(path);
  if (!t.ok()) {
    std::fprintf(stderr, "fuzz: %s\n", t.status().to_string().c_str());
    std::abort();
  }
  return std::move(t).value();
}

inline const Tokenizer& bpe_tokenizer() {
  static const std::unique_ptr<Tokenizer> tok =
      load_or_abort(source_dir() + "/tests/fixtures/hf-variants/qwen2-bpe-tied-fp32/tokenizer.json");
  return *tok;
}

inline const Tokenizer& tokenizer() {
  static const std::unique_ptr<Tokenizer> tok =
      load_or_abort(fixtures_dir() + "/tiny-mistral/tokenizer.model");
  return *tok;
}

}  // namespace pcache::fuzz
