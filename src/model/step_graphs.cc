#include "model/step_graphs.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <tuple>

#include "model/fused_ops.h"
#include "model/paged_attention.h"

#if defined(PCACHE_PAGED_KERNELS)
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGraphsC10Utils.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace pcache {
namespace {

bool graphs_wanted(const LlamaModel& m) {
  const ModelConfig& c = m.config();
  const char* env = std::getenv("PCACHE_CUDA_GRAPHS");
  const bool off = env && std::strcmp(env, "0") == 0;
#if defined(PCACHE_PAGED_KERNELS)
  return !off && paged_attention_available(m.device(), m.dtype(), c.head_dim,
                                           c.num_heads / c.num_kv_heads) &&
         fused_ops_available(m.device(), m.dtype());
#else
  (void)c, (void)off;
  return false;
#endif
}

#if defined(PCACHE_PAGED_KERNELS)
int64_t power_of_two_at_least(int64_t v) {
  int64_t p = 1;
  while (p < v) p *= 2;
  return p;
}

// Fewest slots a graph's plan holds (4 sequences of 1k entries): smaller
// buffers would only be captured again sooner.
constexpr int64_t kMinEntries = 4096;
// Cascade attention from 32 sequences sharing 256 entries on: below, the
// flash pass and the merge cost more than the reads they save (H200,
// Mistral-7B shape, 2k shared entries: 4 sequences 7.9 ms a step with it,
// 6.2 without; 16 about even; 64 9.2 against 12.8).
constexpr int64_t kCascadeMinBatch = 32;
constexpr int64_t kCascadeMinEntries = 256;
// Extend shapes remembered as seen once, at most (then forgotten at once):
// a bound on what distinct one-off questions leave behind.
constexpr size_t kMaxSeenExtends = 4096;
#endif

}  // namespace

#if defined(PCACHE_PAGED_KERNELS)
struct StepGraphs::Graph {
  explicit Graph(std::optional<int64_t> window) : plan(window) {}
  PagedAttentionPlan plan;
  // On the device, int64: tokens, positions, write slots ([rows] each), then
  // for decode the shared entries' slots ([shared capacity], cascade only),
  // for an extend the row whose logits are wanted ([1]); and for decode cu =
  // {0, batch, 0, shared entries} as int32 (flash attention's offsets).
  at::Tensor in, cu;
  at::Tensor logits;  // float32 [rows, V] (decode) or [1, V] (extend): what a replay writes
  at::cuda::CUDAGraph graph;
  int64_t last_used = 0;  // extends: for dropping the least recently used
};
#else
struct StepGraphs::Graph {};
#endif

StepGraphs::StepGraphs(const LlamaModel& model, BlockPool& pool)
    : model_(model), pool_(pool), enabled_(graphs_wanted(model)) {}

StepGraphs::~StepGraphs() = default;

StatusOr<at::Tensor> StepGraphs::forward(const std::vector<PagedInput>& inputs,
                                         const at::Tensor& fed_tokens) {
  const bool decode_only =
      enabled_ && !inputs.empty() && static_cast<int64_t>(inputs.size()) <= std::end(kBatchSizes)[-1] &&
      std::all_of(inputs.begin(), inputs.end(), [](const PagedInput& in) { return in.new_entries == 1; });
  const bool lone_extend = enabled_ && inputs.size() == 1 && !decode_only;
  if (!decode_only && !lone_extend) return model_.forward_paged(inputs, fed_tokens);
  PCACHE_RETURN_IF_ERROR(model_.check_paged(inputs, fed_tokens));
  try {
    if (decode_only) return run_decode(inputs, fed_tokens);
    if (std::optional<at::Tensor> logits = run_extend(inputs[0])) return *std::move(logits);
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    if (what.find("out of memory") != std::string::npos)
      return Status::resource_exhausted("step graph: " + what);
    return Status::internal("step graph: " + what);
  }
  return model_.forward_paged(inputs);
}

at::Tensor StepGraphs::run_decode(const std::vector<PagedInput>& inputs, const at::Tensor& fed_tokens) {
#if defined(PCACHE_PAGED_KERNELS)
  const ModelConfig& c = model_.config();
  const at::Device device = model_.device();
  const int64_t b = static_cast<int64_t>(inputs.size());
  const int64_t batch = *std::lower_bound(std::begin(kBatchSizes), std::end(kBatchSizes), b);

  // Cascade: the entries every sequence begins with (a module they share),
  // attended once for all rows by flash attention instead of once per row.
  std::vector<std::vector<int64_t>> slots(b);
  int64_t shared = std::numeric_limits<int64_t>::max();
  for (int64_t j = 0; j < b; ++j) {
    slots[j] = inputs[j].sequence->slots();
    int64_t same = static_cast<int64_t>(slots[j].size()) - 1;  // its own new entry is never shared
    if (j > 0) {
      same = std::min(same, static_cast<int64_t>(std::mismatch(slots[j].begin(), slots[j].end(),
                                                                slots[0].begin(), slots[0].end())
                                                      .first -
                                                  slots[j].begin()));
    }
    shared = std::min(shared, same);
  }
  if (b < kCascadeMinBatch || shared < kCascadeMinEntries || c.sliding_window) shared = 0;
  const int64_t shared_capacity = shared ? power_of_two_at_least(shared) : 0;

  // The step on the host: ids, positions and write slots (padding: token 0
  // at position 0, no slot), the shared slots, and the attention plan over
  // the rest.
  PagedAttentionPlan plan(c.sliding_window);
  const int64_t width = 3 * batch + shared_capacity;
  at::Tensor staged = at::zeros({width}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
  at::Tensor staged_cu = at::empty({4}, at::TensorOptions().dtype(at::kInt).pinned_memory(true));
  int64_t* in = staged.data_ptr<int64_t>();
  std::fill(in + 2 * batch, in + 3 * batch, -1);
  std::copy(slots[0].begin(), slots[0].begin() + shared, in + 3 * batch);
  int32_t* cu = staged_cu.data_ptr<int32_t>();
  cu[0] = 0, cu[1] = static_cast<int32_t>(batch), cu[2] = 0, cu[3] = static_cast<int32_t>(shared);
  for (int64_t j = 0; j < b; ++j) {
    const PagedSequence& seq = *inputs[j].sequence;
    const std::vector<int64_t>& s = slots[j];
    plan.add(shared ? std::vector<int64_t>(s.begin() + shared, s.end()) : s,
             shared ? std::vector<int64_t>(seq.positions().begin() + shared, seq.positions().end())
                    : seq.positions(),
             j, 1);
    in[j] = seq.tokens().back();
    in[batch + j] = seq.positions().back();
    in[2 * batch + j] = s.back();
  }
  const int64_t splits = power_of_two_at_least(plan.splits(device, c.num_kv_heads));

  const std::tuple<int64_t, int64_t, int64_t> key(batch, splits, shared_capacity);
  auto found = graphs_.find(key);
  const bool capture = found == graphs_.end() || plan.entries() > found->second->plan.max_entries();
  // A new graph is captured, then kept.
  std::unique_ptr<Graph> fresh = capture ? new_graph(plan, batch, splits, width, shared > 0) : nullptr;
  Graph* g = capture ? fresh.get() : found->second.get();
  if (capture) g->cu = at::empty({4}, at::TensorOptions().dtype(at::kInt).device(device));
  g->in.copy_(staged, /*non_blocking=*/true);
  if (fed_tokens.defined()) g->in.narrow(0, 0, b).copy_(fed_tokens);  // over the placeholders
  g->cu.copy_(staged_cu, /*non_blocking=*/true);
  TORCH_CHECK(g->plan.refill(plan), "step graph: the plan outgrew its buffers");
  if (shared) ++cascade_steps_;
  if (!capture) {
    g->graph.replay();
    return g->logits.narrow(0, 0, b).clone();
  }

  Graph& graph = *g;
  at::Tensor eager = run_and_capture(graph, [&] {
           const at::Tensor shared_slots = graph.in.narrow(0, 3 * batch, shared_capacity);
           const at::Tensor cu_q = graph.cu.narrow(0, 0, 2), cu_k = graph.cu.narrow(0, 2, 2);
           return model_.paged_pass(
               graph.in.narrow(0, 0, batch), graph.in.narrow(0, batch, batch),
               graph.in.narrow(0, 2 * batch, batch), at::Tensor(), pool_,
               [&](int64_t layer, const at::Tensor& q) {
                 at::Tensor out = at::empty_like(q);  // [batch, H, D]
                 at::Tensor prefix, lse;
                 if (shared_capacity) {
                   at::Tensor k = pool_.keys(layer).index_select(0, shared_slots);    // [capacity, Hkv, D]
                   at::Tensor v = pool_.values(layer).index_select(0, shared_slots);  // [capacity, Hkv, D]
                   prefix = flash_varlen(q, k, v, cu_q, cu_k, batch, shared_capacity,
                                         model_.attention_scale(), /*causal=*/false, &lse);  // [batch, H, D]
                 }
                 paged_attention(q, pool_.keys(layer), pool_.values(layer), graph.plan,
                                 model_.attention_scale(), out, prefix, lse);
                 return out;
               });  // [batch, V]
         });
  graphs_[key] = std::move(fresh);
  return eager.narrow(0, 0, b);
#else
  (void)inputs, (void)fed_tokens;
  TORCH_CHECK(false, "step graph: this build has no CUDA kernels");
  return at::Tensor();
#endif
}

std::optional<at::Tensor> StepGraphs::run_extend(const PagedInput& input) {
#if defined(PCACHE_PAGED_KERNELS)
  const ModelConfig& c = model_.config();
  const at::Device device = model_.device();
  const PagedSequence& seq = *input.sequence;
  const int64_t n = input.new_entries, s = seq.length();
  if (input.all_logits || n > std::end(kExtendSizes)[-1]) return std::nullopt;
  const int64_t size = *std::lower_bound(std::begin(kExtendSizes), std::end(kExtendSizes), n);

  // The context as forward_paged reads it: all through the paged kernels, or
  // one run in place and the rest through them.
  const std::vector<int64_t> slots = seq.slots();
  PagedAttentionPlan plan(c.sliding_window);
  int64_t run_first = -1, run_entries = 0, parts = 1;
  if (n * s <= kPagedKernelMaxWork) {
    plan.add(slots, seq.positions(), 0, n);
  } else {
    if (c.sliding_window || !flash_varlen_available(device, model_.dtype()) || c.head_dim % 8 != 0 ||
        c.head_dim > 256) {
      return std::nullopt;
    }
    // A run read by cuDNN is cut in `parts`: about a CTA per multiprocessor,
    // cuDNN taking 128 query rows (a KV head's query heads packed) per CTA
    // (H200, 32 layers over 16k entries: 16 parts best for 8 and 32 new
    // tokens, 8 for 64).
    const int64_t row_blocks = (size * (c.num_heads / c.num_kv_heads) + 127) / 128;
    while (cudnn_runs_ && 2 * parts <= kMaxPrefixParts &&
           2 * parts * c.num_kv_heads * row_blocks <= multiprocessors(device)) {
      parts *= 2;
    }
    std::optional<InPlaceSplit> split = split_in_place(slots, seq.positions(), n, parts);
    if (!split || split->runs.size() != 1) return std::nullopt;
    std::tie(run_first, run_entries) = split->runs[0];
    plan.add(split->rest_slots, split->rest_positions, 0, n);
  }
  const int64_t splits = power_of_two_at_least(plan.splits(device, c.num_kv_heads));

  const ExtendKey key(size, splits, run_first, run_entries);
  auto found = extend_graphs_.find(key);
  const bool capture = found == extend_graphs_.end() || plan.entries() > found->second->plan.max_entries();
  if (found == extend_graphs_.end()) {
    if (extend_seen_[key]++ == 0) {
      if (extend_seen_.size() > kMaxSeenExtends) extend_seen_.clear();
      return std::nullopt;  // seen once: eager
    }
    if (extend_graphs_.size() >= kMaxExtendGraphs) {
      extend_graphs_.erase(std::min_element(extend_graphs_.begin(), extend_graphs_.end(),
                                            [](const auto& a, const auto& b) {
                                              return a.second->last_used < b.second->last_used;
                                            }));
    }
  }
  // A new graph is captured, then kept.
  std::unique_ptr<Graph> fresh =
      capture ? new_graph(plan, size, splits, 3 * size + 1, run_entries > 0) : nullptr;
  Graph* g = capture ? fresh.get() : found->second.get();
  // Ids, positions and write slots (padding: token 0 at position 0, no
  // slot), then the last new token's row, whose logits are returned.
  at::Tensor staged = at::zeros({3 * size + 1}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
  int64_t* in = staged.data_ptr<int64_t>();
  std::copy(seq.tokens().end() - n, seq.tokens().end(), in);
  std::copy(seq.positions().end() - n, seq.positions().end(), in + size);
  std::copy(slots.end() - n, slots.end(), in + 2 * size);
  std::fill(in + 2 * size + n, in + 3 * size, -1);
  in[3 * size] = n - 1;
  g->in.copy_(staged, /*non_blocking=*/true);
  TORCH_CHECK(g->plan.refill(plan), "step graph: the plan outgrew its buffers");
  g->last_used = ++extend_clock_;
  if (!capture) {
    g->graph.replay();
    ++extend_replays_;
    return g->logits.clone();
  }

  Graph& graph = *g;
  at::Tensor eager = run_and_capture(graph, [&] {
    return model_.paged_pass(
        graph.in.narrow(0, 0, size), graph.in.narrow(0, size, size),
        graph.in.narrow(0, 2 * size, size), graph.in.narrow(0, 3 * size, 1), pool_,
        [&](int64_t layer, const at::Tensor& q) {
          at::Tensor out = at::empty_like(q);  // [size, H, D]
          const at::Tensor k = pool_.keys(layer), v = pool_.values(layer);
          if (run_entries >= kCudnnMinRun && parts > 1 && cudnn_runs_) {
            try {  // fails, if it does, in the eager pass, before any capture
              PrefixParts run = cudnn_run_parts(q, k.narrow(0, run_first, run_entries),
                                                v.narrow(0, run_first, run_entries),
                                                model_.attention_scale(), parts);
              paged_attention(q, k, v, graph.plan, model_.attention_scale(), out, run);
              return out;
            } catch (const c10::Error&) {
              // Not in this build or not for this model: flash from now on.
              // A capture that fails is the caller's error, as any other.
              if (c10::cuda::currentStreamCaptureStatusMayInitCtx() !=
                  c10::cuda::CaptureStatus::None) {
                throw;
              }
              cudnn_runs_ = false;
            }
          }
          at::Tensor prefix, lse;
          if (run_entries) {  // the run read in place: [size, H, D], [size, H]
            std::tie(prefix, lse) = flash_with_lse(q, k.narrow(0, run_first, run_entries),
                                                   v.narrow(0, run_first, run_entries),
                                                   model_.attention_scale(), /*pack_groups=*/true);
          }
          paged_attention(q, k, v, graph.plan, model_.attention_scale(), out, prefix, lse);
          return out;
        });  // [1, V]
  });
  extend_graphs_[key] = std::move(fresh);
  return eager;
#else
  (void)input;
  TORCH_CHECK(false, "step graph: this build has no CUDA kernels");
  return std::nullopt;
#endif
}

std::unique_ptr<StepGraphs::Graph> StepGraphs::new_graph(const PagedAttentionPlan& plan, int64_t rows,
                                                          int64_t splits, int64_t inputs,
                                                          bool with_prefix) const {
#if defined(PCACHE_PAGED_KERNELS)
  const ModelConfig& c = model_.config();
  auto g = std::make_unique<Graph>(c.sliding_window);
  g->plan.allocate(model_.device(), rows,
                   std::max(kMinEntries, power_of_two_at_least(2 * plan.entries())), splits,
                   c.num_heads, c.num_kv_heads, c.head_dim, with_prefix);
  g->in = at::empty({inputs}, at::TensorOptions().dtype(at::kLong).device(model_.device()));
  return g;
#else
  (void)plan, (void)rows, (void)splits, (void)inputs, (void)with_prefix;
  TORCH_CHECK(false, "step graph: this build has no CUDA kernels");
  return nullptr;
#endif
}

at::Tensor StepGraphs::run_and_capture(Graph& graph, const std::function<at::Tensor()>& body) {
#if defined(PCACHE_PAGED_KERNELS)
  // The step runs eagerly first, on a side stream (its result is this
  // step's, and capturing wants the kernels warmed up), then is captured.
  const at::Device device = model_.device();
  c10::cuda::device_synchronize();
  c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, device.index());
  c10::cuda::CUDAStreamGuard guard(side);
  at::Tensor eager = body();
  try {
    graph.graph.capture_begin(memory_pool_, cudaStreamCaptureModeThreadLocal);
    graph.logits = body();
    graph.graph.capture_end();
  } catch (...) {
    // A failed capture leaves the stream capturing until it is ended.
    try {
      graph.graph.capture_end();
    } catch (...) {
    }
    throw;
  }
  memory_pool_ = graph.graph.pool();
  ++captures_;
  side.synchronize();
  return eager;
#else
  (void)graph, (void)body;
  TORCH_CHECK(false, "step graph: this build has no CUDA kernels");
  return at::Tensor();
#endif
}

}  // namespace pcache
