// DecodeGraphs: forward_paged for a step loop, replaying a captured CUDA
// graph when the step only decodes (one new entry per sequence).
//
// Why: a decode step of a 7B model is some 300 kernels, whose launches from
// the host take longer than the GPU takes to run them at small batches. A
// graph replays them in one launch. It bakes in the addresses it reads and
// writes, so everything a step changes lives in device buffers refreshed
// before each replay: token ids, positions and K/V slots ([3, B] int64), and
// the paged-attention plan (its rows and slot lists, read by the kernels
// from device memory, model/paged_attention.h). Steps are padded to a few
// batch sizes (padding rows write no K/V and attend to nothing), and the
// attention splits are rounded up to a power of two (splits past a row's
// entries do no work). Entries that every sequence of the step begins with
// (a PML module they share) are attended once for all of them (cascade
// attention, model/paged_attention.h), their count rounded up to a power of
// two: a graph per (batch size, splits, shared entries). A step with
// more entries than a graph's slot buffer holds captures it again, with
// twice the room. All graphs share one memory pool (they never run at once).
//
// Graphs run on CUDA where the paged and fused kernels are built; elsewhere,
// for steps with prefill chunks and for batches past the largest size,
// forward() is LlamaModel::forward_paged. PCACHE_CUDA_GRAPHS=0 in the
// environment turns graphs off (to compare). Not thread-safe: one step loop
// calls it.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "model/block_pool.h"
#include "model/llama.h"
#include "pcache/status.h"

namespace pcache {

class DecodeGraphs {
 public:
  // The batch sizes graphs are captured for; a step is padded to the next.
  static constexpr int64_t kBatchSizes[] = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256};

  // `model` and `pool` must outlive this object.
  DecodeGraphs(const LlamaModel& model, BlockPool& pool);
  ~DecodeGraphs();
  DecodeGraphs(const DecodeGraphs&) = delete;
  DecodeGraphs& operator=(const DecodeGraphs&) = delete;

  // Whether decode steps replay graphs here.
  bool enabled() const { return enabled_; }

  // LlamaModel::forward_paged(inputs), with the same results (float32
  // logits [R, V], a new tensor), from a graph when every input computes one
  // entry. The first step of a shape runs eagerly and captures its graph.
  StatusOr<at::Tensor> forward(const std::vector<PagedInput>& inputs);

  // Graphs captured so far (captures again included).
  int64_t captures() const { return captures_; }
  // Decode steps that attended a shared prefix once (cascade).
  int64_t cascade_steps() const { return cascade_steps_; }

 private:
  struct Graph;
  at::Tensor run_graph(const std::vector<PagedInput>& inputs);

  const LlamaModel& model_;
  BlockPool& pool_;
  const bool enabled_;
  // By (batch size, splits, shared entries' capacity).
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::unique_ptr<Graph>> graphs_;
  std::pair<unsigned long long, unsigned long long> memory_pool_{0, 0};
  int64_t captures_ = 0, cascade_steps_ = 0;
};

}  // namespace pcache
