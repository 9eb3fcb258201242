// Workspace: a KV cache whose buffers never move, with the CUDA graphs
// captured on it; WorkspacePool lends them out, one request at a time each.
//
// Why: a forward pass of a few new tokens over a 7B model is some 800 kernels
// whose launches from the host take longer than the GPU takes to run them.
// Replaying a captured graph launches them all at once. A graph bakes in the
// addresses it read and wrote, so it is captured on buffers that live on:
// the workspace's cache, reused request after request. Every offset a step
// needs (token ids, positions, cache slots) is refreshed in device tensors
// before each replay, attention covers the whole capacity through a mask
// built on the device from the slots, and new-token counts are rounded up to
// a few sizes (padding runs in slots that later writes overwrite).
//
// Graphs are used on CUDA for models without a sliding window at batch 1;
// elsewhere a Workspace runs plain forward passes, so callers need no other
// path. PCACHE_CUDA_GRAPHS=0 in the environment turns graphs off.
#pragma once

#include <ATen/ATen.h>

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include "model/kv_cache.h"
#include "model/llama.h"
#include "pcache/status.h"

namespace pcache {

class Workspace {
 public:
  // The new-token counts a graph is captured for; more tokens run eagerly.
  static constexpr int64_t kGraphSizes[] = {1, 16, 32, 48, 64};

  Workspace(const LlamaModel& model, int64_t capacity, bool graphs);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  int64_t capacity() const { return capacity_; }
  int64_t bytes() const;

  // Lends the (empty) cache to the caller, who fills it (with append or
  // forward) and hands it back with give_back() before the workspace is
  // returned to its pool.
  KVCache take();
  void give_back(KVCache cache);
  bool holds_cache() const { return cache_.has_value(); }

  // Runs `tokens` at `positions` after cache.length(): each sees the whole
  // cache and the tokens before it. Returns the last token's float32 logits
  // [V] on the device (valid until the next call). A graph is replayed when
  // `cache` is this workspace's and the tokens fit a graph size and the
  // capacity; the first use of a size captures it (one plain pass).
  // Errors: ResourceExhausted, Internal (a libtorch or CUDA failure).
  StatusOr<at::Tensor> forward(KVCache& cache, const std::vector<int64_t>& tokens,
                               const std::vector<int64_t>& positions);

 private:
  struct Graph;
  at::Tensor replay(Graph& g, KVCache& cache, const std::vector<int64_t>& tokens,
                    const std::vector<int64_t>& positions);

  const LlamaModel& model_;
  const int64_t capacity_;
  const bool graphs_;
  std::optional<KVCache> cache_;  // empty while lent out
  const void* buffer_ = nullptr;  // the first K buffer: which cache is ours
  std::map<int64_t, std::unique_ptr<Graph>> graphs_by_size_;
  // The memory pool this workspace's graphs share (they never run at once).
  std::pair<unsigned long long, unsigned long long> graph_pool_{0, 0};
};

class WorkspacePool {
 public:
  // Idle workspaces are kept up to `idle_bytes` of K/V (least recently used
  // released first).
  WorkspacePool(const LlamaModel& model, int64_t idle_bytes);
  ~WorkspacePool();

  // Whether workspaces here replay CUDA graphs.
  bool graphs() const { return graphs_; }

  // A workspace of at least `capacity` entries, lent until the pointer is
  // dropped (then it goes back to the pool). Thread-safe. The pool must
  // outlive what it lends.
  StatusOr<std::shared_ptr<Workspace>> acquire(int64_t capacity);

 private:
  void release(Workspace* w);

  const LlamaModel& model_;
  const int64_t idle_bytes_;
  const bool graphs_;
  std::mutex mu_;
  std::deque<std::unique_ptr<Workspace>> idle_;  // most recently used first
};

}  // namespace pcache
