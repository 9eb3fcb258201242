#include "model/decoder.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#if defined(PCACHE_HAVE_CUDA)
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace pcache {

struct Decoder::Graph {
#if defined(PCACHE_HAVE_CUDA)
  at::cuda::CUDAGraph graph;
#endif
  at::Tensor host_in;  // [3] int64, pinned: token, position, cache slot
  at::Tensor in;       // [3] int64 on the device: what the graph reads
  at::Tensor mask;     // [1, 1, capacity] bool: the entries the step may see
  at::Tensor logits;   // [1, 1, V] float32: what the graph writes
  bool captured = false;
};

bool Decoder::graphs_enabled() {
  const char* env = std::getenv("PCACHE_CUDA_GRAPHS");
  return env == nullptr || std::strcmp(env, "0") != 0;
}

Decoder::Decoder(const LlamaModel& model, KVCache& cache, int64_t max_steps)
    : model_(model), cache_(cache), steps_left_(max_steps) {
  cache_.reserve(max_steps);
#if defined(PCACHE_HAVE_CUDA)
  if (model.device().is_cuda() && cache.batch() == 1 && !model.config().sliding_window &&
      graphs_enabled()) {
    cache_.zero_unused();  // attention covers the whole capacity
    graph_ = std::make_unique<Graph>();
    auto on_device = at::TensorOptions().device(model.device());
    graph_->host_in = at::empty({3}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
    graph_->in = at::zeros({3}, on_device.dtype(at::kLong));
    graph_->mask = (at::arange(cache.capacity(), on_device.dtype(at::kLong)) < cache.length())
                       .view({1, 1, -1});
  }
#endif
}

Decoder::~Decoder() = default;

std::mutex& Decoder::capture_mutex() {
  static std::mutex mu;
  return mu;
}

bool Decoder::graphed() const { return graph_ != nullptr; }

StatusOr<at::Tensor> Decoder::step(int64_t token, int64_t position) {
  if (steps_left_ <= 0) return Status::invalid_argument("decoder: more steps than reserved");
  --steps_left_;
  try {
    if (!graph_) {
      ForwardOptions last;
      last.last_logits_only = true;
      PCACHE_ASSIGN_OR_RETURN(at::Tensor out,
                              model_.forward(at::full({1, 1}, token, at::kLong),
                                             at::full({1, 1}, position, at::kLong), cache_, last));
      return out[0][0];
    }
#if defined(PCACHE_HAVE_CUDA)
    Graph& g = *graph_;
    int64_t* host = g.host_in.data_ptr<int64_t>();
    host[0] = token;
    host[1] = position;
    host[2] = cache_.length();
    g.in.copy_(g.host_in, /*non_blocking=*/true);
    auto body = [&] {
      at::Tensor slot = g.in.narrow(0, 2, 1);  // [1]
      g.mask.index_fill_(2, slot, true);
      return model_.forward_at_slots(g.in.narrow(0, 0, 1).view({1, 1}),
                                     g.in.narrow(0, 1, 1).view({1, 1}), slot, g.mask, cache_);
    };
    at::Tensor out;
    if (g.captured) {
      g.graph.replay();
      out = g.logits;
    } else {
      // The first step runs eagerly on a side stream (which also warms up the
      // libraries for that stream); the same step is then captured, not run.
      std::lock_guard<std::mutex> lock(capture_mutex());
      c10::cuda::device_synchronize();
      c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, model_.device().index());
      {
        c10::cuda::CUDAStreamGuard guard(side);
        out = body();
        side.synchronize();
        g.graph.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
        g.logits = body();
        g.graph.capture_end();
      }
      c10::cuda::device_synchronize();
      g.captured = true;
    }
    cache_.advance(1);
    return out[0][0];
#else
    return Status::internal("decoder: CUDA graph without CUDA");
#endif
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    if (what.find("out of memory") != std::string::npos) {
      return Status::resource_exhausted("decode step: " + what);
    }
    return Status::internal("decode step: " + what);
  }
}

}  // namespace pcache
