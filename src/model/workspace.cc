#include "model/workspace.h"

#include <cstdlib>
#include <cstring>

#if defined(PCACHE_HAVE_CUDA)
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace pcache {
namespace {

// Capacities are rounded up to this many entries, so that requests of similar
// lengths share a workspace and its graphs.
constexpr int64_t kCapacityStep = 4096;

// PCACHE_CUDA_GRAPHS=0 in the environment turns graphs off (to compare).
bool graphs_enabled() {
  const char* env = std::getenv("PCACHE_CUDA_GRAPHS");
  return env == nullptr || std::strcmp(env, "0") != 0;
}

// Held while a graph is captured: one capture at a time in the process.
std::mutex capture_mutex;

Status status_of(const c10::Error& e, const char* what) {
  std::string message = e.what_without_backtrace();
  if (message.find("out of memory") != std::string::npos) {
    return Status::resource_exhausted(std::string(what) + ": " + message);
  }
  return Status::internal(std::string(what) + ": " + message);
}

}  // namespace

// One pass of `size` tokens as L + 1 graphs ("piecewise"): graph 0 embeds
// and runs layer 0 up to attention, graph i finishes layer i - 1 and runs
// layer i up to attention, graph L finishes the last layer and computes the
// logits. Attention runs between them, outside any graph, as flash attention
// over exactly the entries in use, however long the context: a graph would
// have to cover the whole capacity (and lose the fast kernels) instead.
struct Workspace::Graph {
#if defined(PCACHE_HAVE_CUDA)
  std::vector<std::unique_ptr<at::cuda::CUDAGraph>> segments;
#endif
  int64_t size = 0;
  at::Tensor host;               // [3, size] int64, pinned: tokens, positions, slots
  at::Tensor in;                 // [3, size] int64 on the device: what graph 0 reads
  at::Tensor attn;               // [1, H, size, D]: attention of the layer before, read by graph i
  std::vector<at::Tensor> q, x;  // graph i's outputs: q of layer i, x entering layer i
  at::Tensor cos, sin, logits;   // graph 0's rotary tables; graph L's [1, size, V] float32
  bool captured = false;
};

Workspace::Workspace(const LlamaModel& model, int64_t capacity, bool graphs)
    : model_(model), capacity_(capacity), graphs_(graphs) {
  cache_.emplace(model.new_cache(1));
  cache_->reserve(capacity);
  buffer_ = cache_->buffer_id();
}

Workspace::~Workspace() = default;

int64_t Workspace::bytes() const {
  const ModelConfig& c = model_.config();
  return 2 * c.num_layers * c.num_kv_heads * capacity_ * c.head_dim *
         static_cast<int64_t>(c10::elementSize(model_.dtype()));
}

KVCache Workspace::take() {
  KVCache c = std::move(*cache_);
  cache_.reset();
  return c;
}

void Workspace::give_back(KVCache cache) {
  cache.truncate(0);
  cache_.emplace(std::move(cache));
}

StatusOr<at::Tensor> Workspace::forward(KVCache& cache, const std::vector<int64_t>& tokens,
                                        const std::vector<int64_t>& positions) {
  const int64_t t = static_cast<int64_t>(tokens.size());
  try {
    if (graphs_ && cache.buffer_id() == buffer_) {
      for (int64_t size : kGraphSizes) {
        if (size < t) continue;
        if (cache.length() + size > capacity_) break;
        std::unique_ptr<Graph>& g = graphs_by_size_[size];
        if (!g) {
          g = std::make_unique<Graph>();
          g->size = size;
          g->host = at::empty({3, size}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
          g->in =
              at::zeros({3, size}, at::TensorOptions().dtype(at::kLong).device(model_.device()));
        }
        return replay(*g, cache, tokens, positions);
      }
    }
    return model_.forward_last(tokens, positions, cache);
  } catch (const c10::Error& e) {
    return status_of(e, "forward");
  }
}

at::Tensor Workspace::replay(Graph& g, KVCache& cache, const std::vector<int64_t>& tokens,
                             const std::vector<int64_t>& positions) {
  const int64_t t = static_cast<int64_t>(tokens.size()), size = g.size;
  const int64_t layers = model_.config().num_layers;
  int64_t* host = g.host.data_ptr<int64_t>();
  for (int64_t i = 0; i < size; ++i) {
    // Padding: token 0 at the last position, in the slots after the real
    // tokens, which no real token sees (causal) and later writes overwrite.
    host[i] = i < t ? tokens[i] : 0;
    host[size + i] = i < t ? positions[i] : positions.back();
    host[2 * size + i] = cache.length() + i;
  }
  g.in.copy_(g.host);                          // blocking: the host buffer is reused next call
  const int64_t seen = cache.length() + size;  // entries attention covers, padding included
  // Graph i's work; the same code runs eagerly (the first pass) and is captured.
  auto segment = [&](int64_t i) {
    if (i == 0) {
      at::Tensor positions_in = g.in[1].view({1, size});
      std::tie(g.cos, g.sin) = model_.rope(positions_in);
      g.x[0] = model_.embed(g.in[0].view({1, size}));
      cache.commit_at(g.in[2], positions_in);
    } else {
      g.x[i] = model_.layer_output(i - 1, g.x[i - 1], g.attn);
    }
    if (i < layers) {
      g.q[i] = model_.attention_input(i, g.x[i], g.cos, g.sin, g.in[2], cache);
    } else {
      g.logits = model_.logits(g.x[i]);
    }
  };
  auto attend = [&](int64_t i) {
    auto [k, v] = cache.first_entries(i, seen);  // [1, Hkv, seen, D]
    g.attn.copy_(grouped_attention(g.q[i], k, v, at::Tensor(), model_.attention_scale()));
  };
#if defined(PCACHE_HAVE_CUDA)
  if (!g.captured) {
    // The first pass runs eagerly on a side stream (the real result, and the
    // warm-up capture needs); then each segment is captured, not run.
    g.q.assign(layers, at::Tensor());
    g.x.assign(layers + 1, at::Tensor());
    const ModelConfig& c = model_.config();
    g.attn = at::empty({1, c.num_heads, size, c.head_dim},
                       at::TensorOptions().dtype(model_.dtype()).device(model_.device()));
    std::lock_guard<std::mutex> lock(capture_mutex);
    c10::cuda::device_synchronize();
    c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, model_.device().index());
    c10::cuda::CUDAStreamGuard guard(side);
    for (int64_t i = 0; i <= layers; ++i) {
      segment(i);
      if (i < layers) attend(i);
    }
    at::Tensor result = g.logits;
    side.synchronize();
    for (int64_t i = 0; i <= layers; ++i) {
      g.segments.push_back(std::make_unique<at::cuda::CUDAGraph>());
      g.segments[i]->capture_begin(graph_pool_, cudaStreamCaptureModeThreadLocal);
      segment(i);
      g.segments[i]->capture_end();
      graph_pool_ = g.segments[i]->pool();
    }
    side.synchronize();
    g.captured = true;
    cache.advance(t);
    return result[0][t - 1];
  }
  for (int64_t i = 0; i <= layers; ++i) {
    g.segments[i]->replay();
    if (i < layers) attend(i);
  }
#endif
  cache.advance(t);
  return g.logits[0][t - 1];
}

WorkspacePool::WorkspacePool(const LlamaModel& model, int64_t idle_bytes)
    : model_(model),
      idle_bytes_(idle_bytes),
#if defined(PCACHE_HAVE_CUDA)
      graphs_(model.device().is_cuda() && !model.config().sliding_window && graphs_enabled())
#else
      graphs_(false)
#endif
{
}

WorkspacePool::~WorkspacePool() = default;

StatusOr<std::shared_ptr<Workspace>> WorkspacePool::acquire(int64_t capacity) {
  // Room for the largest graph's padding beyond what the caller needs.
  const int64_t want =
      (capacity + Workspace::kGraphSizes[4] + kCapacityStep - 1) / kCapacityStep * kCapacityStep;
  std::unique_ptr<Workspace> found;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
      if ((*it)->capacity() == want) {
        found = std::move(*it);
        idle_.erase(it);
        break;
      }
    }
  }
  if (!found) {
    try {
      found = std::make_unique<Workspace>(model_, want, graphs_);
    } catch (const c10::Error& e) {
      return status_of(e, "allocating a KV workspace");
    }
  }
  return std::shared_ptr<Workspace>(found.release(), [this](Workspace* w) { release(w); });
}

void WorkspacePool::release(Workspace* w) {
  std::unique_ptr<Workspace> owned(w);
  if (!owned->holds_cache()) return;  // its cache was kept: it cannot serve again
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_front(std::move(owned));
  int64_t total = 0;
  for (const auto& i : idle_) total += i->bytes();
  while (!idle_.empty() && total > idle_bytes_) {
    total -= idle_.back()->bytes();
    idle_.pop_back();
  }
}

}  // namespace pcache
