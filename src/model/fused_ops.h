// Fused CUDA kernels for the elementwise chains of a decoder layer
// (cuda/fused_ops.cu; built only when CMake finds a CUDA toolkit): RoPE with
// the K/V write into a BlockPool, SiLU times the up projection, and a GEMV
// for projections of a few rows (with the SiLU folded in for gate/up). A decode
// step of a 7B model launches some 20 kernels per layer, most of them tiny;
// these take 9 of them down to 2, and let a padding row of a captured graph
// write nothing. Results equal the libtorch chains they replace (same
// roundings). All run on the current CUDA stream; they throw c10::Error.
#pragma once

#include <ATen/ATen.h>

#include <utility>

namespace pcache {

// Whether the kernels run here: built, `device` CUDA, `dtype` half or bfloat16.
bool fused_ops_available(at::Device device, at::ScalarType dtype);

// qkv: [N, (H + 2 Hkv) D] (last dim contiguous); cos, sin: [N, D] contiguous;
// slots: [N] int64. Returns q rotated, [N, H, D] contiguous, and writes token
// t's rotated k and its v at row slots[t] of k_pool and v_pool ([rows, Hkv,
// D] contiguous); a negative slot writes nothing.
at::Tensor rope_and_store(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                          const at::Tensor& slots, const at::Tensor& k_pool,
                          const at::Tensor& v_pool, int64_t num_heads);

// The residual add and the RMSNorm that follows it, in one kernel: returns
// {x + delta, rms_norm(x + delta) * weight}, rounded as transformers' chain
// (normalised in float32, rounded, times the weight, rounded); with delta
// undefined, {x, rms_norm(x) * weight}. x, delta: [..., hidden] of one
// shape, hidden a multiple of 8; weight [hidden]; one dtype.
std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& x, const at::Tensor& delta,
                                               const at::Tensor& weight, double eps);

// gate_up: [..., 2F] contiguous -> silu(gate) * up, [..., F].
at::Tensor silu_mul(const at::Tensor& gate_up);

// x [..., in] times w [out, in] (+ bias [out]) as at::linear, for the few
// rows of a decode step (batch 1 to 4): cuBLAS reads the weight at about
// half the memory bandwidth there, this kernel at most of it. w in x's
// dtype, or int8 with `scale` (float32 [out]): row j of the product is
// scaled by scale[j] (weight-only quantization: half the bytes to read).
// gemv_applies() says when it runs (fused kernels, w contiguous, in a
// multiple of 8 (16 for int8), 1 to 4 rows of x contiguous).
bool gemv_applies(const at::Tensor& x, const at::Tensor& w);
at::Tensor gemv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias,
                const at::Tensor& scale = at::Tensor());
// silu_mul(gemv(x, w, bias, scale)) in one kernel, rounded alike: w (and
// bias, scale) a gate projection's F rows then an up projection's F, the
// result [..., F]. Where gemv_applies(x, w).
at::Tensor gemv_silu_mul(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias,
                         const at::Tensor& scale = at::Tensor());

// x [..., in] times an int8 w [out, in] scaled per output row (+ bias), as
// gemv with `scale`, for more rows than the GEMV takes (5 to 128: a decode
// batch, an extend's new tokens) on tensor cores, reading the int8 weight
// once per 64 rows instead of widening all of it for cuBLAS. Where
// int8_matmul_applies(x, w): fused kernels, w int8 contiguous, in a multiple
// of 64, x contiguous and 16-byte aligned.
bool int8_matmul_applies(const at::Tensor& x, const at::Tensor& w);
at::Tensor int8_matmul(const at::Tensor& x, const at::Tensor& w, const at::Tensor& scale,
                       const at::Tensor& bias);

}  // namespace pcache
