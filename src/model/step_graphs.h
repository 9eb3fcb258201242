// StepGraphs: forward_paged for a step loop, replaying captured CUDA graphs
// for the steps that launches would otherwise pace: decode steps (one new
// entry per sequence) and a lone short extend (one sequence's new tokens,
// the question of a cached prompt).
//
// Why: a forward of a 7B model is some 300 kernels, whose launches from the
// host take longer than the GPU takes to run them at small batches (and
// for tens of new tokens). A graph replays them in one launch. It bakes in
// the addresses it reads and writes, so everything a step changes lives in
// device buffers refreshed before each replay: token ids, positions and K/V
// slots, and the paged-attention plan (its rows and slot lists, read by the
// kernels from device memory, model/paged_attention.h).
//
// Decode steps are padded to a few batch sizes (padding rows write no K/V
// and attend to nothing), and the attention splits are rounded up to a power
// of two (splits past a row's entries do no work). Entries that every
// sequence of the step begins with (a PML module they share) are attended
// once for all of them (cascade attention), their count rounded up to a
// power of two: a graph per (batch size, splits, shared entries). The first
// step of a shape runs eagerly and captures its graph.
//
// Extends of one sequence (at most kExtendSizes' last new tokens, logits of
// the last) are padded to the next of kExtendSizes. Their context is read as
// forward_paged reads it: by the paged kernels when short, else a run of
// consecutive pool rows (a module) in place and the rest by the kernels,
// the run's rows baked into the graph: a graph per (size, splits, run). A
// run of kCudnnMinRun entries or more is read by cuDNN in parts
// (cudnn_run_parts) where cuDNN runs, else by flash attention. A shape is
// captured the second time it is seen (a prompt's question runs once; a
// module's questions, and the floor, recur), and at
// most kMaxExtendGraphs are kept, the least recently used dropped.
//
// A step with more entries than a graph's slot buffer holds captures it
// again, with twice the room. All graphs share one memory pool (they never
// run at once). Graphs run on CUDA where the paged and fused kernels are
// built; elsewhere, and for other steps (several prefills, chunks mixed with
// decodes, batches past the largest size), forward() is
// LlamaModel::forward_paged. PCACHE_CUDA_GRAPHS=0 in the environment turns
// graphs off (to compare). Not thread-safe: one step loop calls it.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "model/block_pool.h"
#include "model/llama.h"
#include "pcache/status.h"

namespace pcache {

class PagedAttentionPlan;

class StepGraphs {
 public:
  // The batch sizes decode graphs are captured for; a step is padded to the next.
  static constexpr int64_t kBatchSizes[] = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256};
  // The new tokens extend graphs are captured for; an extend is padded to the next.
  static constexpr int64_t kExtendSizes[] = {8, 16, 32, 48, 64, 96, 128};
  static constexpr size_t kMaxExtendGraphs = 16;

  // `model` and `pool` must outlive this object.
  StepGraphs(const LlamaModel& model, BlockPool& pool);
  ~StepGraphs();
  StepGraphs(const StepGraphs&) = delete;
  StepGraphs& operator=(const StepGraphs&) = delete;

  // Whether steps replay graphs here.
  bool enabled() const { return enabled_; }

  // LlamaModel::forward_paged(inputs, fed_tokens), with the same results
  // (float32 logits [R, V], a new tensor; within rounding where padding
  // changes the shapes of an extend's matrix products), from a graph where
  // one fits. Queued on the device, not waited for.
  StatusOr<at::Tensor> forward(const std::vector<PagedInput>& inputs,
                               const at::Tensor& fed_tokens = at::Tensor());

  // Graphs captured so far (captures again included).
  int64_t captures() const { return captures_; }
  // Extends that replayed a graph.
  int64_t extend_replays() const { return extend_replays_; }
  // Decode steps that attended a shared prefix once (cascade).
  int64_t cascade_steps() const { return cascade_steps_; }
  // Runs at least this long are read by cuDNN in parts (where it runs):
  // measured faster than flash attention from 4k entries on (H200).
  static constexpr int64_t kCudnnMinRun = 4096;

 private:
  struct Graph;
  at::Tensor run_decode(const std::vector<PagedInput>& inputs, const at::Tensor& fed_tokens);
  // Null when this extend runs eagerly (no graph yet, or not of a kind graphs take).
  std::optional<at::Tensor> run_extend(const PagedInput& input);
  // A graph for `rows` rows whose attention plan holds twice `plan`'s
  // entries (at least kMinEntries), split `splits` ways, with `inputs`
  // int64 of input buffer; not captured yet.
  std::unique_ptr<Graph> new_graph(const PagedAttentionPlan& plan, int64_t rows, int64_t splits,
                                   int64_t inputs, bool with_prefix) const;
  // Runs `body` once eagerly and returns its result (the step's), then
  // captures it in `graph` (graph.logits: what a replay writes).
  at::Tensor run_and_capture(Graph& graph, const std::function<at::Tensor()>& body);

  const LlamaModel& model_;
  BlockPool& pool_;
  const bool enabled_;
  // Decode: by (batch size, splits, shared entries' capacity).
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::unique_ptr<Graph>> graphs_;
  // Extends: by (size, splits, run's first row, run's entries); the shapes
  // seen once, and when each graph was last used (for dropping).
  using ExtendKey = std::tuple<int64_t, int64_t, int64_t, int64_t>;
  std::map<ExtendKey, std::unique_ptr<Graph>> extend_graphs_;
  std::map<ExtendKey, int64_t> extend_seen_;
  int64_t extend_clock_ = 0;
  std::pair<unsigned long long, unsigned long long> memory_pool_{0, 0};
  int64_t captures_ = 0, extend_replays_ = 0, cascade_steps_ = 0;
  bool cudnn_runs_ = true;  // false once cuDNN failed here: flash attention from then on
};

}  // namespace pcache
