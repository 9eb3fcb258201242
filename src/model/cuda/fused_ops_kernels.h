// Launch interface of the fused per-layer CUDA kernels (cuda/fused_ops.cu):
// plain C++ types and raw device pointers, so that nvcc never compiles
// libtorch headers; model/fused_ops.cc owns the tensors and checks shapes.
//
// Each replaces a chain of elementwise libtorch kernels of a decoder layer
// whose launches, at a few tokens per step, cost more than their work.
// Half or bfloat16 tensors, float32 arithmetic, results rounded as the
// unfused chain rounds them.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace pcache::cuda {

// RoPE on q and k and the K/V write, for n tokens. qkv: [n, (H + 2 Hkv) D],
// rows qkv_row_stride elements apart (q heads, k heads, v heads); cos, sin:
// [n, D] contiguous. q_out: [n, H, D] contiguous gets rotated q; row
// slots[t] of k_pool and v_pool ([rows, Hkv, D] contiguous) gets token t's
// rotated k and its v. A token whose slot is negative writes no K/V (the
// padding rows of a captured graph).
struct RopeStoreParams {
  const void* qkv = nullptr;
  int64_t qkv_row_stride = 0;
  const void* cos = nullptr;
  const void* sin = nullptr;
  const int64_t* slots = nullptr;
  void* q_out = nullptr;
  void* k_pool = nullptr;
  void* v_pool = nullptr;
  int32_t n = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  bool bf16 = true;  // else float16
};
cudaError_t launch_rope_store(const RopeStoreParams& p, cudaStream_t stream);

// out = silu(gate_up[:, :F]) * gate_up[:, F:] for n rows of gate_up [n, 2F]
// (contiguous); out [n, F] contiguous.
cudaError_t launch_silu_mul(const void* gate_up, void* out, int64_t n, int64_t f, bool bf16,
                            cudaStream_t stream);

// The residual add and the RMSNorm after it, for `rows` rows of `hidden`
// (a multiple of 8) elements, all contiguous: sum = x + delta (rounded to
// T), normed = T(T(sum * rsqrt(mean(sum^2) + eps)) * weight), as
// transformers' and libtorch's chains round. With delta null: normed of x
// alone, and sum is not written.
struct AddRmsNormParams {
  const void* x = nullptr;
  const void* delta = nullptr;
  const void* weight = nullptr;  // [hidden]
  void* sum = nullptr;
  void* normed = nullptr;
  int64_t rows = 0, hidden = 0;
  float eps = 1e-5f;
  bool bf16 = true;  // else float16
};
cudaError_t launch_add_rms_norm(const AddRmsNormParams& p, cudaStream_t stream);

// y[m] = w x[m] (+ bias) for m < rows, rows 1 to kGemvMaxRows: x [rows, k]
// (rows x_stride elements apart), w [n, k] contiguous (a Linear's weight),
// in the 16-bit type of x, or int8 with y[m][j] = scale[j] * (w[j] . x[m])
// (weight-only quantization, a float32 scale per output row); bias [n] or
// null, y [rows, n] (rows y_stride apart). k a multiple of 8 (16 for int8),
// every pointer and stride 16-byte aligned. Reading w is all the work: a
// warp streams two rows of it with 16-byte loads, several in flight.
// With silu_mul, w is a gate projection's F rows then an up projection's F
// (n = 2F, even) and y [rows, F] gets silu(gate) * up, rounded as
// launch_silu_mul rounds the two projections' outputs: the step's SiLU
// kernel folded into the projection.
constexpr int kGemvMaxRows = 4;
struct GemvParams {
  const void* x = nullptr;
  int64_t x_stride = 0;
  const void* w = nullptr;
  const float* scale = nullptr;  // with int8
  const void* bias = nullptr;
  void* y = nullptr;
  int64_t y_stride = 0;
  int rows = 0;
  int64_t n = 0, k = 0;
  bool int8 = false;
  bool silu_mul = false;
  bool bf16 = true;  // x, bias, y: bfloat16, else float16
};
cudaError_t launch_gemv(const GemvParams& p, cudaStream_t stream);

// y[m] = scale . (w x[m]) (+ bias) for m < rows, rows 1 to
// kInt8MatmulMaxRows, on tensor cores (int8_matmul.cu): x [rows, k] (rows
// x_stride elements apart) bfloat16 or float16, w [n, k] int8 contiguous,
// scale float32 [n], bias [n] or null, y [rows, n] (y_stride apart), k a
// multiple of kInt8MatmulGrain, x and w 16-byte aligned. For the rows past
// the GEMV's (a decode batch, an extend's new tokens), where widening the
// whole weight for cuBLAS reads and writes it three times over. The columns
// are cut in `splits` (int8_matmul_splits) so that small n still fills the
// GPU; with splits > 1, `partial` is float32 scratch of splits x min(rows,
// kInt8MatmulRowsPerPass) x n, summed in split order (deterministic). Each
// pass of kInt8MatmulRowsPerPass rows reads w again.
constexpr int kInt8MatmulMaxRows = 128;
constexpr int kInt8MatmulRowsPerPass = 64;
constexpr int64_t kInt8MatmulGrain = 64;
struct Int8MatmulParams {
  const void* x = nullptr;
  int64_t x_stride = 0;
  const int8_t* w = nullptr;
  const float* scale = nullptr;
  const void* bias = nullptr;
  void* y = nullptr;
  int64_t y_stride = 0;
  float* partial = nullptr;
  int rows = 0;
  int64_t n = 0, k = 0;
  int splits = 1;
  bool bf16 = true;  // x, bias, y: bfloat16, else float16
};
int int8_matmul_splits(int64_t n, int64_t k, int multiprocessors);
cudaError_t launch_int8_matmul(const Int8MatmulParams& p, cudaStream_t stream);

}  // namespace pcache::cuda
