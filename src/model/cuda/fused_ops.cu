// Fused per-layer kernels (contract in fused_ops_kernels.h). Each rounds
// where the libtorch chain it replaces rounds, so that results match it.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "model/cuda/fused_ops_kernels.h"

namespace pcache::cuda {
namespace {

template <typename T>
__device__ __forceinline__ float to_float(T x);
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 x) {
  return __bfloat162float(x);
}
template <>
__device__ __forceinline__ float to_float<__half>(__half x) {
  return __half2float(x);
}
template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float x) {
  return __float2half_rn(x);
}

// One thread per element of q, k and v of one token (blockIdx.x): the
// libtorch chain is addcmul(x * cos, rotate_half(x), sin), which rounds the
// product x * cos to T before the fused multiply-add.
template <typename T>
__global__ void rope_store_kernel(const RopeStoreParams p) {
  const int t = blockIdx.x;
  const int d = p.head_dim, half = d / 2;
  const int heads = p.num_heads + 2 * p.num_kv_heads;
  const T* row = static_cast<const T*>(p.qkv) + static_cast<int64_t>(t) * p.qkv_row_stride;
  const T* cos = static_cast<const T*>(p.cos) + static_cast<int64_t>(t) * d;
  const T* sin = static_cast<const T*>(p.sin) + static_cast<int64_t>(t) * d;
  const int64_t slot = p.slots[t];
  for (int e = threadIdx.x; e < heads * d; e += blockDim.x) {
    const int head = e / d, i = e % d;
    const T x = row[e];
    if (head >= p.num_heads + p.num_kv_heads) {  // v: stored as it is
      if (slot >= 0) {
        static_cast<T*>(p.v_pool)[(slot * p.num_kv_heads + head - p.num_heads - p.num_kv_heads) * d + i] = x;
      }
      continue;
    }
    const float other = to_float(row[head * d + (i < half ? i + half : i - half)]);
    const float rotated = i < half ? -other : other;
    const float scaled = to_float(from_float<T>(to_float(x) * to_float(cos[i])));
    const T out = from_float<T>(fmaf(rotated, to_float(sin[i]), scaled));
    if (head < p.num_heads) {
      static_cast<T*>(p.q_out)[(static_cast<int64_t>(t) * p.num_heads + head) * d + i] = out;
    } else if (slot >= 0) {
      static_cast<T*>(p.k_pool)[(slot * p.num_kv_heads + head - p.num_heads) * d + i] = out;
    }
  }
}

// silu(g) * u, as at::silu then a multiply: silu rounded to T first.
template <typename T>
__global__ void silu_mul_kernel(const T* gate_up, T* out, int64_t n, int64_t f) {
  const int64_t total = n * f;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = e / f, i = e % f;
    const float g = to_float(gate_up[r * 2 * f + i]);
    const float silu = to_float(from_float<T>(g / (1.f + expf(-g))));
    out[e] = from_float<T>(silu * to_float(gate_up[r * 2 * f + f + i]));
  }
}

}  // namespace

cudaError_t launch_rope_store(const RopeStoreParams& p, cudaStream_t stream) {
  if (p.n < 1 || p.head_dim < 2 || p.head_dim % 2 != 0 || p.num_heads < 1 || p.num_kv_heads < 1) {
    return cudaErrorInvalidValue;
  }
  const int threads = 256;
  if (p.bf16) {
    rope_store_kernel<__nv_bfloat16><<<p.n, threads, 0, stream>>>(p);
  } else {
    rope_store_kernel<__half><<<p.n, threads, 0, stream>>>(p);
  }
  return cudaGetLastError();
}

cudaError_t launch_silu_mul(const void* gate_up, void* out, int64_t n, int64_t f, bool bf16,
                            cudaStream_t stream) {
  if (n < 1 || f < 1) return cudaErrorInvalidValue;
  const int threads = 256;
  const int64_t want = (n * f + threads - 1) / threads;
  const int blocks = static_cast<int>(want < 4096 ? want : 4096);
  if (bf16) {
    silu_mul_kernel<<<blocks, threads, 0, stream>>>(static_cast<const __nv_bfloat16*>(gate_up),
                                                    static_cast<__nv_bfloat16*>(out), n, f);
  } else {
    silu_mul_kernel<<<blocks, threads, 0, stream>>>(static_cast<const __half*>(gate_up),
                                                    static_cast<__half*>(out), n, f);
  }
  return cudaGetLastError();
}

}  // namespace pcache::cuda
