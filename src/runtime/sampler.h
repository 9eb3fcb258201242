// Sampler: picks the next token from logits, greedily or at random with
// temperature, top-k and top-p, from a seeded generator on the host so that
// results repeat across runs and devices. One per generation; not thread-safe.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <random>

#include "pcache/generation.h"

namespace pcache {

// Where a sampler's generator stands: the seed it started from and how many
// numbers it has drawn since. A chat state keeps its answer's, so that the
// next turn with the same seed goes on along the same random stream instead of
// drawing the same numbers again, and a snapshot stores it (docs/formats.md),
// so that a loaded state continues as the original would. A count rather than
// the generator's text form: that form differs between standard libraries,
// while seed and count replay the same std::mt19937_64 stream on any.
struct SamplerState {
  uint64_t seed = 0;
  uint64_t draws = 0;
};

class Sampler {
 public:
  // `options` must have passed validate(). With `resume` of the same seed as
  // options.seed the generator goes on where `resume` stopped (its draws are
  // replayed, each a few nanoseconds); with none, or another seed (a caller
  // asking for a new stream), it starts from options.seed.
  explicit Sampler(const SamplingOptions& options,
                   const std::optional<SamplerState>& resume = std::nullopt);
  // logits: [V] float on any device.
  int sample(const at::Tensor& logits);
  // Whether sample() is the argmax (temperature 0): no draw, no state.
  bool greedy() const { return options_.temperature == 0.f; }
  SamplerState state() const;

 private:
  // std::mt19937_64 counting its draws (a uniform random bit generator).
  struct Generator {
    using result_type = std::mt19937_64::result_type;
    static constexpr result_type min() { return std::mt19937_64::min(); }
    static constexpr result_type max() { return std::mt19937_64::max(); }
    result_type operator()() {
      ++draws;
      return engine();
    }
    std::mt19937_64 engine;
    uint64_t draws = 0;
  };

  SamplingOptions options_;
  Generator rng_;
};

}  // namespace pcache
