// Sampler: picks the next token from logits, greedily or at random with
// temperature, top-k and top-p, from a seeded generator on the host so that
// results repeat across runs and devices. One per generation; not thread-safe.
#pragma once

#include <ATen/ATen.h>

#include <random>
#include <string>

#include "pcache/generation.h"

namespace pcache {

class Sampler {
 public:
  // `options` must have passed validate().
  explicit Sampler(const SamplingOptions& options);
  // logits: [V] float on any device.
  int sample(const at::Tensor& logits);
  // The options and the generator's position, as text (saved with states).
  std::string state() const;

 private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace pcache
