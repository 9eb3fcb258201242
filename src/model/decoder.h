// Decoder: generates one token at a time on a KV cache of batch 1.
//
// On a CUDA device, for models without a sliding window, the step (embedding,
// every layer, logits) is captured once as a CUDA graph and replayed for each
// token, so a step costs one graph launch instead of hundreds of kernel
// launches from the host. Every offset the step needs (token, position, cache
// slot) lives in device tensors that are refreshed before each replay; the
// cache's capacity is reserved up front, so its buffers never move, and
// attention runs over the whole capacity with a mask that gains one entry per
// step. Elsewhere each step is a plain forward.
//
// One per generation; not thread-safe. The cache must outlive the Decoder.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <mutex>

#include "model/kv_cache.h"
#include "model/llama.h"
#include "pcache/status.h"

namespace pcache {

class Decoder {
 public:
  // Reserves room in `cache` for `max_steps` more tokens.
  Decoder(const LlamaModel& model, KVCache& cache, int64_t max_steps);
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Runs `token` at `position`, appends its K/V to the cache, and returns its
  // float32 logits [V] on the model's device (valid until the next step).
  // Errors: InvalidArgument (more steps than reserved), ResourceExhausted,
  // Internal (a libtorch or CUDA failure).
  StatusOr<at::Tensor> step(int64_t token, int64_t position);

  // Whether steps replay a CUDA graph.
  bool graphed() const;

  // PCACHE_CUDA_GRAPHS=0 in the environment turns graphs off (to compare).
  static bool graphs_enabled();
  // Held while a CUDA graph is captured anywhere in the process (Decoder and
  // Workspace): one capture at a time.
  static std::mutex& capture_mutex();

 private:
  struct Graph;
  const LlamaModel& model_;
  KVCache& cache_;
  int64_t steps_left_;
  std::unique_ptr<Graph> graph_;  // null: eager steps
};

}  // namespace pcache
