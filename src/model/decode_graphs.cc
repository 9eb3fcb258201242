#include "model/decode_graphs.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "model/fused_ops.h"
#include "model/paged_attention.h"

#if defined(PCACHE_PAGED_KERNELS)
#include <ATen/cuda/CUDAGraph.h>
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
#endif

}  // namespace

#if defined(PCACHE_PAGED_KERNELS)
struct DecodeGraphs::Graph {
  explicit Graph(std::optional<int64_t> window) : plan(window) {}
  PagedAttentionPlan plan;
  at::Tensor in;      // [3, batch] int64 on the device: tokens, positions, write slots
  at::Tensor logits;  // [batch, V] float32: what a replay writes
  at::cuda::CUDAGraph graph;
};
#else
struct DecodeGraphs::Graph {};
#endif

DecodeGraphs::DecodeGraphs(const LlamaModel& model, BlockPool& pool)
    : model_(model), pool_(pool), enabled_(graphs_wanted(model)) {}

DecodeGraphs::~DecodeGraphs() = default;

StatusOr<at::Tensor> DecodeGraphs::forward(const std::vector<PagedInput>& inputs) {
  const bool decode_only =
      enabled_ && !inputs.empty() && static_cast<int64_t>(inputs.size()) <= std::end(kBatchSizes)[-1] &&
      std::all_of(inputs.begin(), inputs.end(), [](const PagedInput& in) { return in.new_entries == 1; });
  if (!decode_only) return model_.forward_paged(inputs);
  PCACHE_RETURN_IF_ERROR(model_.check_paged(inputs));
  try {
    return run_graph(inputs);
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    if (what.find("out of memory") != std::string::npos)
      return Status::resource_exhausted("decode graph: " + what);
    return Status::internal("decode graph: " + what);
  }
}

at::Tensor DecodeGraphs::run_graph(const std::vector<PagedInput>& inputs) {
#if defined(PCACHE_PAGED_KERNELS)
  const ModelConfig& c = model_.config();
  const at::Device device = model_.device();
  const int64_t b = static_cast<int64_t>(inputs.size());
  const int64_t batch = *std::lower_bound(std::begin(kBatchSizes), std::end(kBatchSizes), b);

  // The step on the host: ids, positions and write slots (padding: token 0
  // at position 0, no slot), and the attention plan.
  PagedAttentionPlan plan(c.sliding_window);
  at::Tensor staged = at::empty({3, batch}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
  int64_t* in = staged.data_ptr<int64_t>();
  std::fill(in, in + 2 * batch, 0);
  std::fill(in + 2 * batch, in + 3 * batch, -1);
  for (int64_t j = 0; j < b; ++j) {
    const PagedSequence& seq = *inputs[j].sequence;
    const std::vector<int64_t> slots = seq.slots();
    plan.add(slots, seq.positions(), j, 1);
    in[j] = seq.tokens().back();
    in[batch + j] = seq.positions().back();
    in[2 * batch + j] = slots.back();
  }
  const int64_t splits = power_of_two_at_least(plan.splits(device, c.num_kv_heads));

  std::unique_ptr<Graph>& g = graphs_[{batch, splits}];
  const bool capture = !g || plan.entries() > g->plan.max_entries();
  if (capture) {
    g = std::make_unique<Graph>(c.sliding_window);
    g->plan.allocate(device, batch, std::max(kMinEntries, power_of_two_at_least(2 * plan.entries())),
                     splits, c.num_heads, c.num_kv_heads, c.head_dim);
    g->in = at::empty({3, batch}, at::TensorOptions().dtype(at::kLong).device(device));
  }
  g->in.copy_(staged, /*non_blocking=*/true);
  TORCH_CHECK(g->plan.refill(plan), "decode graph: the plan outgrew its buffers");
  if (!capture) {
    g->graph.replay();
    return g->logits.narrow(0, 0, b).clone();
  }

  Graph& graph = *g;
  auto body = [&] {
    graph.logits = model_.paged_pass(
        graph.in[0], graph.in[1], graph.in[2], at::Tensor(), pool_,
        [&](int64_t layer, const at::Tensor& q) {
          at::Tensor out = at::empty_like(q);  // [batch, H, D]
          paged_attention(q, pool_.keys(layer), pool_.values(layer), graph.plan,
                          model_.attention_scale(), out);
          return out;
        });  // [batch, V]
  };
  // The step runs eagerly first, on a side stream (its result is this
  // step's, and capturing wants the kernels warmed up), then is captured.
  c10::cuda::device_synchronize();
  c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, device.index());
  c10::cuda::CUDAStreamGuard guard(side);
  body();
  at::Tensor result = graph.logits.narrow(0, 0, b).clone();
  try {
    graph.graph.capture_begin(memory_pool_, cudaStreamCaptureModeThreadLocal);
    body();
    graph.graph.capture_end();
  } catch (...) {
    // A failed capture leaves the stream capturing until it is ended.
    try {
      graph.graph.capture_end();
    } catch (...) {
    }
    graphs_.erase({batch, splits});
    throw;
  }
  memory_pool_ = graph.graph.pool();
  ++captures_;
  side.synchronize();
  return result;
#else
  (void)inputs;
  TORCH_CHECK(false, "decode graph: this build has no CUDA kernels");
  return at::Tensor();
#endif
}

}  // namespace pcache
