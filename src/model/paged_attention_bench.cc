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

// A run's context for a packed extend: the query rows of a KV head's query
// heads over S consecutive entries, three ways, each as one CUDA graph per
// step of 32 layers. qp [m, Hkv, D] (m = n * G rows), k/v [S, Hkv, D].
// Returns [m, Hkv, D] bf16 and [m, Hkv] float32 (natural log-sum-exp).
std::pair<at::Tensor, at::Tensor> merge_chunks(const at::Tensor& outs, const at::Tensor& lses) {
  // outs [C, m, Hkv, D], lses [C, m, Hkv]
  at::Tensor lse = at::logsumexp(lses, 0);                          // [m, Hkv]
  at::Tensor w = (lses - lse).exp_().unsqueeze(-1);                 // [C, m, Hkv, 1]
  return {(outs.to(at::kFloat) * w).sum(0).to(outs.scalar_type()), lse};
}

// cuDNN's attention of the packed rows over `chunks` equal chunks of the
// run (a batch of chunks: cuDNN does not split one sequence over the GPU):
// out [C, Hkv, m, D] (as cuDNN lays it out), lse [C, Hkv, m] float32.
std::pair<at::Tensor, at::Tensor> cudnn_chunks(const at::Tensor& qp, const at::Tensor& k,
                                               const at::Tensor& v, double scale, int64_t chunks) {
  const int64_t m = qp.size(0), hkv = qp.size(1), d = qp.size(2), len = k.size(0) / chunks;
  at::Tensor qb = qp.transpose(0, 1).unsqueeze(0).expand({chunks, hkv, m, d}).contiguous();  // [C, Hkv, m, D]
  at::Tensor kb = k.narrow(0, 0, chunks * len).view({chunks, len, hkv, d}).transpose(1, 2);    // [C, Hkv, L, D]
  at::Tensor vb = v.narrow(0, 0, chunks * len).view({chunks, len, hkv, d}).transpose(1, 2);
  auto r = at::_scaled_dot_product_cudnn_attention(qb, kb, vb, std::nullopt, true, 0.0, false, false, scale);
  return {std::get<0>(r), std::get<1>(r)};
}

void run_context(int64_t s, int64_t n, int64_t steps) {
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  const int64_t layer_bytes = 2 * s * kKvHeads * kDim * 2;
  const int64_t buffers = std::clamp<int64_t>((int64_t{1} << 29) / layer_bytes + 1, 1, kLayers);
  std::vector<at::Tensor> k, v;
  for (int64_t i = 0; i < buffers; ++i) {
    k.push_back(at::randn({s, kKvHeads, kDim}, opts));
    v.push_back(at::randn({s, kKvHeads, kDim}, opts));
  }
  const int64_t g = kHeads / kKvHeads, m = n * g;
  at::Tensor q = at::randn({n, kHeads, kDim}, opts);
  at::Tensor qp = q.reshape({n, kKvHeads, g, kDim}).transpose(1, 2).reshape({m, kKvHeads, kDim});
  const double scale = 1.0 / std::sqrt(static_cast<double>(kDim));
  auto ref = flash_with_lse(qp, k[0], v[0], scale);
  const double base = gpu_bench::graph_ms(steps, [&] {
    for (int64_t l = 0; l < kLayers; ++l) flash_with_lse(qp, k[l % buffers], v[l % buffers], scale);
  });
  const double gflop = 4.0 * kLayers * m * kKvHeads * s * kDim / 1e9;
  std::printf("| %6lld | %3lld | flash packed | - | %8.3f | %.0f TFLOP/s | |\n", (long long)s, (long long)n,
              base, gflop / base);
  for (int64_t c : {1, 2, 4, 8, 16}) {
    if (s % c) continue;
    try {
      auto raw = cudnn_chunks(qp, k[0], v[0], scale, c);
      if (c == 1 && n == 8) {
        std::printf("cudnn out %s strides %s, lse %s strides %s\n", c10::str(raw.first.sizes()).c_str(),
                    c10::str(raw.first.strides()).c_str(), c10::str(raw.second.sizes()).c_str(),
                    c10::str(raw.second.strides()).c_str());
      }
      auto got = merge_chunks(raw.first.permute({0, 2, 1, 3}), raw.second.reshape({c, kKvHeads, m}).transpose(1, 2));
      const double od = (got.first.to(at::kFloat) - ref.first.to(at::kFloat)).abs().max().item<double>();
      const double ld = (got.second - ref.second).abs().max().item<double>();
      const double raw_ms = gpu_bench::graph_ms(steps, [&] {
        for (int64_t l = 0; l < kLayers; ++l) cudnn_chunks(qp, k[l % buffers], v[l % buffers], scale, c);
      });
      const double merged_ms = gpu_bench::graph_ms(steps, [&] {
        for (int64_t l = 0; l < kLayers; ++l) {
          auto r = cudnn_chunks(qp, k[l % buffers], v[l % buffers], scale, c);
          merge_chunks(r.first.permute({0, 2, 1, 3}), r.second.reshape({c, kKvHeads, m}).transpose(1, 2));
        }
      });
      std::printf("| %6lld | %3lld | cudnn chunks (merged) | %lld | %8.3f (%8.3f) | %.0f TFLOP/s | diff %.1e / %.1e |\n",
                  (long long)s, (long long)n, (long long)c, raw_ms, merged_ms, gflop / raw_ms, od, ld);
    } catch (const c10::Error& e) {
      std::printf("| %6lld | %3lld | cudnn chunks | %lld | failed: %.300s |\n", (long long)s, (long long)n,
                  (long long)c, e.what_without_backtrace());
    }
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
  std::printf("| B | context | new | kernels | gather+flash | gather+varlen | in place | K/V floor | of floor | plan (host) | max diff |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  if (std::getenv("PCACHE_BENCH_RUNS")) {
    std::printf("| run | new | way | chunks | ms | out diff | lse diff |\n");
    for (int64_t s : contexts) pcache::decode_splits(s, steps, bandwidth);
    for (int64_t s : contexts) {
      for (int64_t n : news) pcache::run_context(s, n, steps);
    }
    return 0;
  }
  for (int64_t b : batches) {
    for (int64_t s : contexts) {
      for (int64_t n : news) pcache::run(b, s, n, steps, bandwidth);
    }
  }
  return 0;
}
