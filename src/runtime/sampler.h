// Sampler: picks the next token from logits, greedily or at random with
// temperature, top-k and top-p, from a seeded generator on the host so that
// results repeat across runs and devices. One per generation; not thread-safe.
//
// The random number comes from the host (draw()); the arithmetic on the
// logits (sample_rows) runs where they are, so that on a GPU neither the
// logits nor a sort of the vocabulary pass through the host, rows with the
// same options are sampled together, and a step's tokens can feed the next
// step on the device (the scheduler's overlapped steps).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

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
  // logits: [V] float on any device: the argmax (greedy), else
  // sample_rows(logits, options, {draw()}). Waits for the device.
  int sample(const at::Tensor& logits);
  // Whether sample() is the argmax (temperature 0): no draw, no state.
  bool greedy() const { return options_.temperature == 0.f; }
  // The next token's random number, uniform in [0, 1) (not greedy: one draw a token).
  double draw();
  const SamplingOptions& options() const { return options_; }
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

// A token for each row of `logits` ([R, V], any float type and device),
// sampled with `options` (temperature > 0) and that row's number of
// `uniforms` ([R], from Sampler::draw()): the logits over the temperature,
// the top_k largest, their softmax, those within top_p, and then the first
// whose cumulative probability (float64) passes uniform x their total.
// int64 [R] on the logits' device, queued there (nothing waits for it).
// Throws c10::Error.
at::Tensor sample_rows(const at::Tensor& logits, const SamplingOptions& options,
                       const std::vector<double>& uniforms);

}  // namespace pcache
