// Attention per step (every layer; n new tokens per sequence, 1 for decode)
// over a paged pool, four ways: the paged kernels (model/paged_attention.h); each
// sequence's entries gathered then flash attention (grouped_attention), as
// forward_paged did before them; one gather of all sequences then varlen
// flash attention; and for one sequence's extend, its context read in place
// (consecutive pool rows) by flash attention, merged into the kernels'. Mistral-7B's heads (32 query, 8 KV, D 128), bfloat16.
// Times with CUDA events, median of the timed steps; built only with the
// kernels. docs/benchmarks.md ("Paged attention") has the figures.
//
//   paged_attention_bench [batches=1,16,64] [contexts=2048,16384] [new=1,...] [steps=20]
//
// With PCACHE_BENCH_RUNS=1 in the environment, one sequence instead: decode
// over each context at fixed splits (8 to 256), then extends of each `new`
// over a module run of each context, the run read by flash attention or by
// cuDNN in parts; both as CUDA graphs of 32 layers (docs/benchmarks.md,
// "Attention over a module run").
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAFunctions.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "model/gpu_bench_util.h"
#include "model/llama.h"
#include "model/paged_attention.h"

namespace pcache {
namespace {

using gpu_bench::median_ms;

constexpr int64_t kLayers = 32, kHeads = 32, kKvHeads = 8, kDim = 128, kBlock = 16;

void run(int64_t batch, int64_t context, int64_t n, int64_t steps, double bandwidth) {
  const int64_t blocks_per_seq = (context + kBlock - 1) / kBlock;
  const int64_t pool_rows = batch * blocks_per_seq * kBlock;
  const int64_t layer_bytes = 2 * pool_rows * kKvHeads * kDim * 2;
  // Distinct buffers for successive layers until they outgrow the L2 cache
  // several times over, so that no step reads K/V from the cache.
  const int64_t buffers = std::clamp<int64_t>((int64_t{1} << 29) / layer_bytes + 1, 1, kLayers);
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  std::vector<at::Tensor> k, v;
  for (int64_t i = 0; i < buffers; ++i) {
    k.push_back(at::randn({pool_rows, kKvHeads, kDim}, opts));
    v.push_back(at::randn({pool_rows, kKvHeads, kDim}, opts));
  }
  // Every sequence's blocks scattered over the pool, as after many requests.
  std::vector<int64_t> blocks(batch * blocks_per_seq);
  std::iota(blocks.begin(), blocks.end(), 0);
  std::shuffle(blocks.begin(), blocks.end(), std::mt19937_64(batch * 7 + context));
  std::vector<std::vector<int64_t>> slots(batch);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t e = 0; e < context; ++e) {
      slots[b].push_back(blocks[b * blocks_per_seq + e / kBlock] * kBlock + e % kBlock);
    }
  }
  at::Tensor q = at::randn({batch * n, kHeads, kDim}, opts);  // [B n, H, D]: n new tokens each
  const double scale = 1.0 / std::sqrt(static_cast<double>(kDim));

  // The kernels; the plan is built once per step (host), as forward_paged does.
  c10::cuda::device_synchronize();  // the pool's random fill is not the plan's time
  const auto host_start = std::chrono::steady_clock::now();
  PagedAttentionPlan plan;
  for (int64_t b = 0; b < batch; ++b) plan.add(slots[b], {}, b * n, n);
  plan.upload(at::Device(at::kCUDA), kHeads, kKvHeads, kDim);
  c10::cuda::device_synchronize();
  const double plan_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - host_start).count();
  at::Tensor out = at::empty_like(q);
  const double kernel_ms = median_ms(steps, [&] {
    for (int64_t l = 0; l < kLayers; ++l) paged_attention(q, k[l % buffers], v[l % buffers], plan, scale, out);
  });

  // Gather per sequence, then flash attention.
  std::vector<at::Tensor> gather;
  for (int64_t b = 0; b < batch; ++b) gather.push_back(at::tensor(slots[b], at::kLong).cuda());
  at::Tensor reference;
  const double gather_ms = median_ms(steps, [&] {
    for (int64_t l = 0; l < kLayers; ++l) {
      std::vector<at::Tensor> outs;
      for (int64_t b = 0; b < batch; ++b) {
        at::Tensor kb = k[l % buffers].index_select(0, gather[b]).transpose(0, 1).unsqueeze(0);  // [1, Hkv, S, D]
        at::Tensor vb = v[l % buffers].index_select(0, gather[b]).transpose(0, 1).unsqueeze(0);
        outs.push_back(grouped_attention(q.narrow(0, b * n, n).transpose(0, 1).unsqueeze(0), kb, vb,
                                         at::Tensor(), scale));  // [1, H, n, D]
      }
      reference = at::cat(outs, 2);
    }
  });

  // One gather of everything, then varlen flash attention.
  std::vector<int64_t> all, cu = {0}, cu_q = {0};
  for (int64_t b = 0; b < batch; ++b) {
    all.insert(all.end(), slots[b].begin(), slots[b].end());
    cu.push_back(cu.back() + context);
    cu_q.push_back((b + 1) * n);
  }
  at::Tensor all_dev = at::tensor(all, at::kLong).cuda();
  at::Tensor cu_dev = at::tensor(cu, at::kLong).to(at::kInt).cuda();
  at::Tensor cu_q_dev = at::tensor(cu_q, at::kLong).to(at::kInt).cuda();
  const double varlen_ms = median_ms(steps, [&] {
    for (int64_t l = 0; l < kLayers; ++l) {
      at::Tensor ks = k[l % buffers].index_select(0, all_dev), vs = v[l % buffers].index_select(0, all_dev);
      flash_varlen(q, ks, vs, cu_q_dev, cu_dev, n, context, scale);
    }
  });

  // Read in place (forward_paged's long extends over modules): the context
  // in consecutive pool rows (a module's blocks, allocated together) through
  // flash attention, then the kernels over the new entries with that merged
  // in. One sequence only, as forward_paged does per sequence.
  double in_place_ms = 0;
  if (batch == 1 && n > 1 && context > n) {
    const int64_t run = context - n;
    std::vector<int64_t> rest;
    for (int64_t e = run; e < context; ++e) rest.push_back(e);
    PagedAttentionPlan rest_plan;
    rest_plan.add(rest, {}, 0, n);
    rest_plan.upload(at::Device(at::kCUDA), kHeads, kKvHeads, kDim, /*with_prefix=*/true);
    at::Tensor in_place_out = at::empty_like(q);
    in_place_ms = median_ms(steps, [&] {
      for (int64_t l = 0; l < kLayers; ++l) {
        auto [prefix, lse] = flash_with_lse(q, k[l % buffers].narrow(0, 0, run),
                                            v[l % buffers].narrow(0, 0, run), scale);
        paged_attention(q, k[l % buffers], v[l % buffers], rest_plan, scale, in_place_out, prefix, lse);
      }
    });
  }

  // The kernels' output (last layer) against gather + flash's.
  paged_attention(q, k[(kLayers - 1) % buffers], v[(kLayers - 1) % buffers], plan, scale, out);
  const double diff = (out.to(at::kFloat) - reference[0].transpose(0, 1).to(at::kFloat)).abs().max().item<double>();
  const double floor_ms = kLayers * layer_bytes / bandwidth * 1e3;
  std::printf("| %3lld | %6lld | %3lld | %8.3f | %8.3f | %8.3f | %8.3f | %8.3f | %5.0f%% | %7.2f | %.1e |\n",
              static_cast<long long>(batch), static_cast<long long>(context),
              static_cast<long long>(n), kernel_ms, gather_ms,
              varlen_ms, in_place_ms, floor_ms, 100.0 * floor_ms / kernel_ms, plan_ms, diff);
  std::fflush(stdout);
}

// An extend of n new tokens over a module's run of S consecutive pool rows,
// as StepGraphs runs it, one CUDA graph per step of 32 layers: the run by
// flash attention (a KV head's query heads packed as rows) or by cuDNN in
// parts (cudnn_run_parts), the new entries by the kernels with the run
// merged in. Against the attention's FLOPs (4 n H S D a layer).
void run_context(int64_t s, int64_t n, int64_t steps) {
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  const int64_t layer_bytes = 2 * (s + n) * kKvHeads * kDim * 2;
  const int64_t buffers = std::clamp<int64_t>((int64_t{1} << 29) / layer_bytes + 1, 1, kLayers);
  std::vector<at::Tensor> k, v;
  for (int64_t i = 0; i < buffers; ++i) {
    k.push_back(at::randn({s + n, kKvHeads, kDim}, opts));
    v.push_back(at::randn({s + n, kKvHeads, kDim}, opts));
  }
  at::Tensor q = at::randn({n, kHeads, kDim}, opts);
  const double scale = 1.0 / std::sqrt(static_cast<double>(kDim));
  std::vector<int64_t> rest(n);
  std::iota(rest.begin(), rest.end(), s);
  PagedAttentionPlan plan;
  plan.add(rest, rest, 0, n);
  plan.upload(at::Device(at::kCUDA), kHeads, kKvHeads, kDim, /*with_prefix=*/true);
  at::Tensor flash_out = at::empty_like(q), out = at::empty_like(q);
  auto flash_layer = [&](int64_t l, at::Tensor& into) {
    auto [prefix, lse] = flash_with_lse(q, k[l % buffers].narrow(0, 0, s), v[l % buffers].narrow(0, 0, s),
                                        scale, /*pack_groups=*/true);
    paged_attention(q, k[l % buffers], v[l % buffers], plan, scale, into, prefix, lse);
  };
  auto parts_layer = [&](int64_t l, int64_t parts, at::Tensor& into) {
    PrefixParts run = cudnn_run_parts(q, k[l % buffers].narrow(0, 0, s), v[l % buffers].narrow(0, 0, s),
                                      scale, parts);
    paged_attention(q, k[l % buffers], v[l % buffers], plan, scale, into, run);
  };
  const double tflop = 4.0 * kLayers * n * kHeads * s * kDim / 1e12;
  const double flash_ms = gpu_bench::graph_ms(steps, [&] {
    for (int64_t l = 0; l < kLayers; ++l) flash_layer(l, flash_out);
  });
  std::printf("| %6lld | %3lld | flash, packed heads | %8.3f | %4.0f | |\n", static_cast<long long>(s),
              static_cast<long long>(n), flash_ms, tflop / flash_ms * 1e3);
  flash_layer(0, flash_out);
  for (int64_t parts : {4, 8, 16}) {
    if (s % parts) continue;
    parts_layer(0, parts, out);
    const double diff = (out.to(at::kFloat) - flash_out.to(at::kFloat)).abs().max().item<double>();
    const double ms = gpu_bench::graph_ms(steps, [&] {
      for (int64_t l = 0; l < kLayers; ++l) parts_layer(l, parts, out);
    });
    std::printf("| %6lld | %3lld | cuDNN, %2lld parts | %8.3f | %4.0f | %.1e |\n", static_cast<long long>(s),
                static_cast<long long>(n), static_cast<long long>(parts), ms, tflop / ms * 1e3, diff);
    std::fflush(stdout);
  }
}

// Decode (one new token) over one sequence's S entries through the paged
// kernels with a given number of splits, as one CUDA graph per 32 layers.
void decode_splits(int64_t s, int64_t steps, double bandwidth) {
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  const int64_t rows = (s + kBlock - 1) / kBlock * kBlock;
  const int64_t layer_bytes = 2 * rows * kKvHeads * kDim * 2;
  const int64_t buffers = std::clamp<int64_t>((int64_t{1} << 29) / layer_bytes + 1, 1, kLayers);
  std::vector<at::Tensor> k, v;
  for (int64_t i = 0; i < buffers; ++i) {
    k.push_back(at::randn({rows, kKvHeads, kDim}, opts));
    v.push_back(at::randn({rows, kKvHeads, kDim}, opts));
  }
  std::vector<int64_t> slots(s);
  std::iota(slots.begin(), slots.end(), 0);
  at::Tensor q = at::randn({1, kHeads, kDim}, opts), out = at::empty_like(q);
  const double scale = 1.0 / std::sqrt(static_cast<double>(kDim));
  PagedAttentionPlan host;
  host.add(slots, {}, 0, 1);
  const int64_t picked = host.splits(at::Device(at::kCUDA), kKvHeads);
  for (int64_t splits : {8, 16, 32, 64, 128, 256}) {
    PagedAttentionPlan plan;
    plan.allocate(at::Device(at::kCUDA), 1, s, splits, kHeads, kKvHeads, kDim);
    plan.refill(host);
    const double ms = gpu_bench::graph_ms(steps, [&] {
      for (int64_t l = 0; l < kLayers; ++l) paged_attention(q, k[l % buffers], v[l % buffers], plan, scale, out);
    });
    const double floor_ms = kLayers * 2.0 * s * kKvHeads * kDim * 2 / bandwidth * 1e3;
    std::printf("| decode | %6lld | %3lld%s | %8.3f | floor %.3f |\n", (long long)s, (long long)splits,
                splits == picked ? " (picked)" : "", ms, floor_ms);
    std::fflush(stdout);
  }
}

}  // namespace
}  // namespace pcache

int main(int argc, char** argv) {
  const std::vector<int64_t> batches = pcache::gpu_bench::parse_list(argc > 1 ? argv[1] : "1,16,64");
  const std::vector<int64_t> contexts = pcache::gpu_bench::parse_list(argc > 2 ? argv[2] : "2048,16384");
  const std::vector<int64_t> news = pcache::gpu_bench::parse_list(argc > 3 ? argv[3] : "1");
  const int64_t steps = argc > 4 ? std::stoll(argv[4]) : 20;
  at::globalContext().setSDPUseCuDNN(false);  // as LlamaModel::load does
  const double bandwidth = pcache::gpu_bench::copy_bandwidth(pcache::gpu_bench::median_ms);
  std::printf("%s; copy bandwidth %.2f TB/s (read + write)\n",
              at::cuda::getCurrentDeviceProperties()->name, bandwidth / 1e12);
  std::printf("attention per step, %lld layers, ms (median of %lld)\n",
              static_cast<long long>(pcache::kLayers), static_cast<long long>(steps));
  if (std::getenv("PCACHE_BENCH_RUNS")) {
    std::printf("| | context | splits | ms | K/V floor ms |\n|---|---|---|---|---|\n");
    for (int64_t s : contexts) pcache::decode_splits(s, steps, bandwidth);
    std::printf("\n| run | new | way | ms | TFLOP/s | max diff from flash |\n|---|---|---|---|---|---|\n");
    for (int64_t s : contexts) {
      for (int64_t n : news) pcache::run_context(s, n, steps);
    }
    return 0;
  }
  std::printf("| B | context | new | kernels | gather+flash | gather+varlen | in place | K/V floor | of floor | plan (host) | max diff |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (int64_t b : batches) {
    for (int64_t s : contexts) {
      for (int64_t n : news) pcache::run(b, s, n, steps, bandwidth);
    }
  }
  return 0;
}
