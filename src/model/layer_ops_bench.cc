// What each operation of a decode step costs at the Mistral-7B shape
// (hidden 4096, 32/8 heads of 128, FFN 14336, vocabulary 32768), bfloat16,
// for a few rows (the batch): the projections as the model runs them (the
// GEMV kernel for [out, in] weights of 1 to 4 rows, cuBLAS on the
// transposed ones) and the other way round, the GEMV with int8 weights,
// gate_up with its SiLU after it or folded in (gemv_silu_mul), and the fused
// elementwise kernels. Each operation runs 32 times (one per layer, each layer
// its own weights, so that nothing is read from L2) inside a CUDA graph, as a decode
// step does; median of the replays, with CUDA events. Against the weights'
// bytes at the copy bandwidth. Built only with the kernels.
//
//   layer_ops_bench [rows=1,4,16] [replays=20]
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "model/fused_ops.h"
#include "model/gpu_bench_util.h"
#include "model/weight_quant.h"

namespace pcache {
namespace {

using gpu_bench::graph_ms;

constexpr int64_t kLayers = 32, kHidden = 4096, kHeads = 32, kKvHeads = 8, kDim = 128,
                  kFfn = 14336, kVocab = 32768;

struct Weights {
  std::vector<at::Tensor> w;  // per layer
  int64_t bytes_each = 0;
};

// `copies` random weights [rows, cols] (each layer its own).
Weights weights(int64_t rows, int64_t cols, int64_t copies) {
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  Weights w;
  for (int64_t i = 0; i < copies; ++i) w.w.push_back(at::randn({rows, cols}, opts) * 0.02);
  w.bytes_each = rows * cols * 2;
  return w;
}

void row(const char* what, int64_t rows, double ms, double bytes, double bandwidth) {
  const double floor_ms = bytes / bandwidth * 1e3;
  std::printf("| %-34s | %3lld | %8.3f | %8.3f | %5.0f%% |\n", what, static_cast<long long>(rows), ms,
              floor_ms, 100.0 * floor_ms / ms);
  std::fflush(stdout);
}

void run(int64_t m, int64_t replays, double bandwidth) {
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  // [out, in] as the GEMV reads them; [in, out] as cuBLAS gets o, down and the head.
  struct Projection {
    const char* name;
    int64_t out, in, copies;
  };
  const Projection projections[] = {{"qkv", (kHeads + 2 * kKvHeads) * kDim, kHidden, kLayers},
                                    {"o", kHidden, kHeads * kDim, kLayers},
                                    {"gate_up", 2 * kFfn, kHidden, kLayers},
                                    {"down", kHidden, kFfn, kLayers},
                                    {"lm_head (x1, not x32)", kVocab, kHidden, 1}};
  for (const Projection& p : projections) {
    Weights w = weights(p.out, p.in, p.copies);
    at::Tensor x = at::randn({m, p.in}, opts);
    const int64_t calls = p.copies;
    const double bytes = static_cast<double>(w.bytes_each) * calls;
    if (gemv_applies(x, w.w[0])) {
      const double ms = graph_ms(replays, [&] {
        for (int64_t l = 0; l < calls; ++l) gemv(x, w.w[l], at::Tensor());
      });
      row((std::string(p.name) + ": gemv [out, in]").c_str(), m, ms, bytes, bandwidth);
      // The same projection with int8 weights (half the bytes).
      std::vector<Int8Weight> int8;
      for (const at::Tensor& t : w.w) int8.push_back(quantize_rows_int8(t));
      const double int8_ms = graph_ms(replays, [&] {
        for (int64_t l = 0; l < calls; ++l) gemv(x, int8[l].values, at::Tensor(), int8[l].scale);
      });
      row((std::string(p.name) + ": gemv int8").c_str(), m, int8_ms, bytes / 2, bandwidth);
      if (p.out == 2 * kFfn) {  // gate_up: then silu_mul, or the SiLU in the GEMV
        const double two_ms = graph_ms(replays, [&] {
          for (int64_t l = 0; l < calls; ++l) silu_mul(gemv(x, w.w[l], at::Tensor()));
        });
        row("gate_up: gemv, then silu_mul", m, two_ms, bytes, bandwidth);
        const double fused_ms = graph_ms(replays, [&] {
          for (int64_t l = 0; l < calls; ++l) gemv_silu_mul(x, w.w[l], at::Tensor());
        });
        row("gate_up: gemv_silu_mul", m, fused_ms, bytes, bandwidth);
        const double int8_fused_ms = graph_ms(replays, [&] {
          for (int64_t l = 0; l < calls; ++l) gemv_silu_mul(x, int8[l].values, at::Tensor(), int8[l].scale);
        });
        row("gate_up: gemv_silu_mul int8", m, int8_fused_ms, bytes / 2, bandwidth);
      }
    }
    const double linear_ms = graph_ms(replays, [&] {
      for (int64_t l = 0; l < calls; ++l) at::linear(x, w.w[l]);
    });
    row((std::string(p.name) + ": cuBLAS [out, in]").c_str(), m, linear_ms, bytes, bandwidth);
    std::vector<at::Tensor> transposed;
    for (const at::Tensor& t : w.w) transposed.push_back(t.t().contiguous());
    w.w.clear();
    const double t_ms = graph_ms(replays, [&] {
      for (int64_t l = 0; l < calls; ++l) at::matmul(x, transposed[l]);
    });
    row((std::string(p.name) + ": cuBLAS [in, out]").c_str(), m, t_ms, bytes, bandwidth);
  }
  // The elementwise kernels, 32 of each (their bytes are the rows').
  at::Tensor x = at::randn({1, m, kHidden}, opts), delta = at::randn_like(x);
  at::Tensor weight = at::randn({kHidden}, opts);
  const double act_bytes = 3.0 * m * kHidden * 2 * kLayers;
  row("add + rms_norm (libtorch)", m,
      graph_ms(replays, [&] {
        for (int64_t l = 0; l < kLayers; ++l) at::rms_norm(x + delta, {kHidden}, weight, 1e-5);
      }),
      act_bytes, bandwidth);
  row("add_rms_norm (fused)", m,
      graph_ms(replays, [&] {
        for (int64_t l = 0; l < kLayers; ++l) add_rms_norm(x, delta, weight, 1e-5);
      }),
      act_bytes, bandwidth);
  at::Tensor gate_up = at::randn({1, m, 2 * kFfn}, opts);
  row("silu_mul (fused)", m,
      graph_ms(replays, [&] {
        for (int64_t l = 0; l < kLayers; ++l) silu_mul(gate_up);
      }),
      1.5 * gate_up.nbytes() * kLayers, bandwidth);
  at::Tensor qkv = at::randn({m, (kHeads + 2 * kKvHeads) * kDim}, opts);
  at::Tensor cs = at::randn({m, kDim}, opts);
  at::Tensor slots = at::arange(m, at::TensorOptions().device(at::kCUDA).dtype(at::kLong));
  at::Tensor pool = at::zeros({4096, kKvHeads, kDim}, opts), pool_v = at::zeros_like(pool);
  row("rope_and_store (fused)", m,
      graph_ms(replays, [&] {
        for (int64_t l = 0; l < kLayers; ++l) rope_and_store(qkv, cs, cs, slots, pool, pool_v, kHeads);
      }),
      2.0 * qkv.nbytes() * kLayers, bandwidth);
}

}  // namespace
}  // namespace pcache

int main(int argc, char** argv) {
  const std::vector<int64_t> rows = pcache::gpu_bench::parse_list(argc > 1 ? argv[1] : "1,4,16");
  const int64_t replays = argc > 2 ? std::stoll(argv[2]) : 20;
  const double bandwidth = pcache::gpu_bench::copy_bandwidth(pcache::gpu_bench::graph_ms);
  std::printf("%s; copy bandwidth %.2f TB/s (read + write)\n",
              at::cuda::getCurrentDeviceProperties()->name, bandwidth / 1e12);
  std::printf("one decode step's worth of each operation (32 layers), ms, median of %lld graph replays\n",
              static_cast<long long>(replays));
  std::printf("| operation | rows | time | bytes at copy bandwidth | of that |\n|---|---|---|---|---|\n");
  for (int64_t m : rows) pcache::run(m, replays, bandwidth);
  return 0;
}
