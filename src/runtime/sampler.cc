#include "runtime/sampler.h"

#include "model/host_copy.h"

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

double Sampler::draw() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

int Sampler::sample(const at::Tensor& logits) {
  if (greedy()) return static_cast<int>(logits.argmax().item<int64_t>());
  return static_cast<int>(sample_rows(logits.unsqueeze(0), options_, {draw()}).item<int64_t>());
}

at::Tensor sample_rows(const at::Tensor& logits, const SamplingOptions& options,
                       const std::vector<double>& uniforms) {
  const int64_t vocab = logits.size(1);
  const int64_t k = options.top_k > 0 && options.top_k < vocab ? options.top_k : vocab;
  at::Tensor scaled = logits.to(at::kFloat) / options.temperature;  // [R, V]
  auto [values, ids] = scaled.topk(k, 1);                            // [R, k] each, descending
  at::Tensor probs = at::softmax(values, 1);                          // [R, k]
  if (options.top_p < 1.f) {
    // Keep a token while the mass before it is below top_p (the first is always kept).
    at::Tensor before = probs.cumsum(1) - probs;
    probs = probs * before.lt(options.top_p).to(at::kFloat);
  }
  at::Tensor cumulative = probs.to(at::kDouble).cumsum(1);  // [R, k]
  at::Tensor u = copy_to_device(uniforms, logits.device());                       // [R]
  at::Tensor target = u.unsqueeze(1) * cumulative.narrow(1, k - 1, 1);  // [R, 1]: below the total
  // The first entry whose cumulative probability passes the target (the
  // last one if rounding leaves none).
  at::Tensor chosen = cumulative.le(target).sum(1, /*keepdim=*/true).clamp_max(k - 1);  // [R, 1]
  return ids.gather(1, chosen).squeeze(1);
}

}  // namespace pcache
