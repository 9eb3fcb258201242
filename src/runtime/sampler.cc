#include "runtime/sampler.h"

namespace pcache {

Status SamplingOptions::validate() const {
  if (max_tokens < 1)
    return Status::invalid_argument("max_tokens must be >= 1, got " + std::to_string(max_tokens));
  if (!(temperature >= 0.f) || temperature > 100.f) {
    return Status::invalid_argument("temperature must be in [0, 100], got " +
                                    std::to_string(temperature));
  }
  if (top_k < 0)
    return Status::invalid_argument("top_k must be >= 0, got " + std::to_string(top_k));
  if (!(top_p > 0.f && top_p <= 1.f)) {
    return Status::invalid_argument("top_p must be in (0, 1], got " + std::to_string(top_p));
  }
  return Status::ok_status();
}

Sampler::Sampler(const SamplingOptions& options, const std::optional<SamplerState>& resume)
    : options_(options) {
  rng_.engine.seed(options.seed);
  if (resume && resume->seed == options.seed) {
    rng_.engine.discard(resume->draws);
    rng_.draws = resume->draws;
  }
}

SamplerState Sampler::state() const { return SamplerState{options_.seed, rng_.draws}; }

int Sampler::sample(const at::Tensor& logits) {
  if (options_.temperature == 0.f) return static_cast<int>(logits.argmax().item<int64_t>());
  at::Tensor scaled = logits.to(at::kCPU, at::kFloat) / options_.temperature;  // [V]
  const int64_t vocab = scaled.size(0);
  const int64_t k = options_.top_k > 0 && options_.top_k < vocab ? options_.top_k : vocab;
  auto [values, ids] = scaled.topk(k);  // descending
  at::Tensor probs = at::softmax(values, 0);
  if (options_.top_p < 1.f) {
    // Keep a token while the mass before it is below top_p (the first is always kept).
    at::Tensor before = probs.cumsum(0) - probs;
    probs = probs * before.lt(options_.top_p).to(at::kFloat);
  }
  const float* p = probs.data_ptr<float>();
  double total = 0;
  for (int64_t i = 0; i < k; ++i) total += p[i];
  double u = std::uniform_real_distribution<double>(0.0, total)(rng_);
  int64_t chosen = 0;
  for (double acc = 0; chosen < k - 1; ++chosen) {
    acc += p[chosen];
    if (u < acc) break;
  }
  return static_cast<int>(ids[chosen].item<int64_t>());
}

}  // namespace pcache
