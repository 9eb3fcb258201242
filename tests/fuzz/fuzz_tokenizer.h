// The tiny models' tokenizer, loaded once, for targets that need one.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "fuzz/fuzz_util.h"
#include "pcache/tokenizer.h"

namespace pcache::fuzz {

inline const Tokenizer& tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = [] {
    auto t = Tokenizer::load(fixtures_dir() + "/tiny-mistral/tokenizer.model");
    if (!t.ok()) {
      std::fprintf(stderr, "fuzz: %s\n", t.status().to_string().c_str());
      std::abort();
    }
    return std::move(t).value();
  }();
  return *tok;
}

}  // namespace pcache::fuzz
