// Fused per-layer kernels (contract in fused_ops_kernels.h). Each rounds
// where the libtorch chain it replaces rounds, so that results match it.
#include "model/cuda/fused_ops_kernels.h"
#include "model/cuda/half_convert.cuh"

namespace pcache::cuda {
namespace {

// One CTA per head (blockIdx.y: q heads, k heads, v heads) of one token
// (blockIdx.x), a thread per element: one token's heads on as many
// multiprocessors (a CTA looping over all of them took 6.6 us a layer). The
// libtorch chain is addcmul(x * cos, rotate_half(x), sin), which rounds the
// product x * cos to T before the fused multiply-add.
template <typename T>
__global__ void rope_store_kernel(const RopeStoreParams p) {
  const int t = blockIdx.x, head = blockIdx.y, i = threadIdx.x;
  const int d = p.head_dim, half = d / 2;
  const T* row = static_cast<const T*>(p.qkv) + static_cast<int64_t>(t) * p.qkv_row_stride;
  const int64_t slot = p.slots[t];
  const T x = row[head * d + i];
  if (head >= p.num_heads + p.num_kv_heads) {  // v: stored as it is
    if (slot >= 0) {
      static_cast<T*>(p.v_pool)[(slot * p.num_kv_heads + head - p.num_heads - p.num_kv_heads) * d + i] = x;
    }
    return;
  }
  const T* cos = static_cast<const T*>(p.cos) + static_cast<int64_t>(t) * d;
  const T* sin = static_cast<const T*>(p.sin) + static_cast<int64_t>(t) * d;
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

// One CTA per row: its sum of squares is a CTA reduction, then the row is
// read again (from L1/L2) to normalise it.
constexpr int kNormThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kNormThreads) add_rms_norm_kernel(const AddRmsNormParams p) {
  __shared__ float scratch[kNormThreads / 32];
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * p.hidden;
  const T* x = static_cast<const T*>(p.x) + offset;
  const T* delta = p.delta ? static_cast<const T*>(p.delta) + offset : nullptr;
  T* sum = p.delta ? static_cast<T*>(p.sum) + offset : nullptr;
  float squares = 0.f;
  for (int64_t e = threadIdx.x * 8; e < p.hidden; e += kNormThreads * 8) {
    float xf[8];
    unpack8<T>(*reinterpret_cast<const uint4*>(x + e), xf);
    if (delta) {
      float df[8];
      unpack8<T>(*reinterpret_cast<const uint4*>(delta + e), df);
      const uint4 rounded = pack8<T>({xf[0] + df[0], xf[1] + df[1], xf[2] + df[2], xf[3] + df[3],
                                      xf[4] + df[4], xf[5] + df[5], xf[6] + df[6], xf[7] + df[7]});
      *reinterpret_cast<uint4*>(sum + e) = rounded;
      unpack8<T>(rounded, xf);
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) squares = fmaf(xf[i], xf[i], squares);
  }
  squares = block_reduce<kNormThreads, false>(squares, scratch);
  const float r = rsqrtf(squares / static_cast<float>(p.hidden) + p.eps);
  const T* in = sum ? sum : x;  // this thread's own writes: visible to it
  const T* weight = static_cast<const T*>(p.weight);
  T* normed = static_cast<T*>(p.normed) + offset;
  for (int64_t e = threadIdx.x * 8; e < p.hidden; e += kNormThreads * 8) {
    float xf[8], wf[8], out[8];
    unpack8<T>(*reinterpret_cast<const uint4*>(in + e), xf);
    unpack8<T>(__ldg(reinterpret_cast<const uint4*>(weight + e)), wf);
#pragma unroll
    for (int i = 0; i < 8; ++i) out[i] = to_float(from_float<T>(xf[i] * r)) * wf[i];
    *reinterpret_cast<uint4*>(normed + e) = pack8<T>(out);
  }
}

constexpr int kGemvWarps = 8;
constexpr int kGemvRowsPerWarp = 2;  // rows of w per warp: x's loads serve both
constexpr int kGemvUnroll = 4;       // 16-byte loads of each row in flight per lane

// What a 16-byte load of a weight row holds: 8 values of a 16-bit type, or
// 16 int8 values (weight-only quantization, scaled per row at the end).
template <typename T, typename W>
struct WeightLoad {
  static constexpr int kElems = 8;
  __device__ static void unpack(const uint4& raw, float (&f)[8]) { unpack8<T>(raw, f); }
};
// 16 int8 values, scaled per row at the end (int8x4_to_float: no I2F).
template <typename T>
struct WeightLoad<T, int8_t> {
  static constexpr int kElems = 16;
  __device__ static void unpack(const uint4& raw, float (&f)[16]) {
    const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) int8x4_to_float(words[j], f + 4 * j);
  }
};

// kSiluMul: w holds a gate projection's F rows then an up projection's F
// (n = 2F); a warp's two rows are gate row j and up row j, and it writes
// silu(gate_j) * up_j, rounded as silu_mul_kernel rounds (each product to
// T, the silu to T, then the product), y [rows, F].
template <typename T, typename W, int M, bool kSiluMul>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemv_kernel(const T* __restrict__ x, int64_t x_stride, const W* __restrict__ w,
                const float* __restrict__ scale, const T* __restrict__ bias, T* __restrict__ y,
                int64_t y_stride, int64_t n, int64_t k) {
  constexpr int R = kGemvRowsPerWarp, U = kGemvUnroll, E = WeightLoad<T, W>::kElems;
  static_assert(!kSiluMul || R == 2, "a gate row and its up row per warp");
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t unit = static_cast<int64_t>(blockIdx.x) * kGemvWarps + warp;
  const int64_t f = n / 2;
  const int64_t row0 = kSiluMul ? unit : unit * R;      // this warp's first row of w
  const int64_t row_step = kSiluMul ? f : 1;            // and the distance to its next
  if (kSiluMul ? row0 >= f : row0 >= n) return;
  float acc[M][R];
#pragma unroll
  for (int m = 0; m < M; ++m) {
#pragma unroll
    for (int r = 0; r < R; ++r) acc[m][r] = 0.f;
  }
  const W* w_rows[R];
#pragma unroll
  for (int r = 0; r < R; ++r) w_rows[r] = w + min(row0 + r * row_step, n - 1) * k;  // a missing row repeats the last
  for (int64_t base = lane * E; base < k; base += 32 * E * U) {
    uint4 wv[U][R];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t at = base + u * 32 * E;
#pragma unroll
      for (int r = 0; r < R; ++r) {
        wv[u][r] = at < k ? __ldcs(reinterpret_cast<const uint4*>(w_rows[r] + at)) : make_uint4(0, 0, 0, 0);
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t at = base + u * 32 * E;
      if (at >= k) break;
#pragma unroll
      for (int m = 0; m < M; ++m) {
        float xf[E];
#pragma unroll
        for (int part = 0; part < E / 8; ++part) {
          float eight[8];
          unpack8<T>(__ldg(reinterpret_cast<const uint4*>(x + m * x_stride + at + 8 * part)), eight);
#pragma unroll
          for (int i = 0; i < 8; ++i) xf[8 * part + i] = eight[i];
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
          float wf[E];
          WeightLoad<T, W>::unpack(wv[u][r], wf);
#pragma unroll
          for (int i = 0; i < E; ++i) acc[m][r] = fmaf(xf[i], wf[i], acc[m][r]);
        }
      }
    }
  }
#pragma unroll
  for (int m = 0; m < M; ++m) {
    float out[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int64_t row = row0 + r * row_step;
      float v = acc[m][r];
#pragma unroll
      for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
      if (scale && row < n) v *= scale[row];
      if (bias && row < n) v += to_float(bias[row]);
      out[r] = to_float(from_float<T>(v));
    }
    if (lane != 0) continue;
    if (kSiluMul) {
      const float g = out[0];
      const float silu = to_float(from_float<T>(g / (1.f + expf(-g))));
      y[m * y_stride + row0] = from_float<T>(silu * out[1]);
    } else {
#pragma unroll
      for (int r = 0; r < R; ++r) {
        if (row0 + r < n) y[m * y_stride + row0 + r] = from_float<T>(out[r]);
      }
    }
  }
}

template <typename T, typename W, bool kSiluMul>
cudaError_t gemv_for_rows(const T* x, int64_t x_stride, const W* w, const float* scale,
                          const T* bias, T* y, int64_t y_stride, int rows, int64_t n, int64_t k,
                          cudaStream_t stream) {
  const int64_t units = kSiluMul ? n / 2 : n;  // outputs, or rows of w
  const int64_t per_block = kSiluMul ? kGemvWarps : kGemvWarps * kGemvRowsPerWarp;
  const dim3 grid(static_cast<unsigned>((units + per_block - 1) / per_block));
  const int threads = kGemvWarps * 32;
  switch (rows) {
    case 1: gemv_kernel<T, W, 1, kSiluMul><<<grid, threads, 0, stream>>>(x, x_stride, w, scale, bias, y, y_stride, n, k); break;
    case 2: gemv_kernel<T, W, 2, kSiluMul><<<grid, threads, 0, stream>>>(x, x_stride, w, scale, bias, y, y_stride, n, k); break;
    case 3: gemv_kernel<T, W, 3, kSiluMul><<<grid, threads, 0, stream>>>(x, x_stride, w, scale, bias, y, y_stride, n, k); break;
    case 4: gemv_kernel<T, W, 4, kSiluMul><<<grid, threads, 0, stream>>>(x, x_stride, w, scale, bias, y, y_stride, n, k); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

template <typename T, typename W>
cudaError_t gemv_for_epilogue(const GemvParams& p, const W* w, const float* scale,
                              cudaStream_t stream) {
  const T* x = static_cast<const T*>(p.x);
  const T* bias = static_cast<const T*>(p.bias);
  T* y = static_cast<T*>(p.y);
  if (p.silu_mul) {
    return gemv_for_rows<T, W, true>(x, p.x_stride, w, scale, bias, y, p.y_stride, p.rows, p.n, p.k, stream);
  }
  return gemv_for_rows<T, W, false>(x, p.x_stride, w, scale, bias, y, p.y_stride, p.rows, p.n, p.k, stream);
}

template <typename T>
cudaError_t gemv_for_weight(const GemvParams& p, cudaStream_t stream) {
  if (p.int8) return gemv_for_epilogue<T>(p, static_cast<const int8_t*>(p.w), p.scale, stream);
  return gemv_for_epilogue<T>(p, static_cast<const T*>(p.w), nullptr, stream);
}

}  // namespace

cudaError_t launch_gemv(const GemvParams& p, cudaStream_t stream) {
  const int64_t grain = p.int8 ? 16 : 8;  // elements of a 16-byte load of w
  if (p.rows < 1 || p.rows > kGemvMaxRows || p.n < 1 || p.k < grain || p.k % grain != 0 ||
      p.x_stride % 8 != 0 || (p.int8 && !p.scale) || (p.silu_mul && p.n % 2 != 0)) {
    return cudaErrorInvalidValue;
  }
  return p.bf16 ? gemv_for_weight<__nv_bfloat16>(p, stream) : gemv_for_weight<__half>(p, stream);
}

cudaError_t launch_rope_store(const RopeStoreParams& p, cudaStream_t stream) {
  if (p.n < 1 || p.head_dim < 2 || p.head_dim % 2 != 0 || p.head_dim > 1024 || p.num_heads < 1 ||
      p.num_kv_heads < 1) {
    return cudaErrorInvalidValue;
  }
  const dim3 grid(static_cast<unsigned>(p.n), static_cast<unsigned>(p.num_heads + 2 * p.num_kv_heads));
  if (p.bf16) {
    rope_store_kernel<__nv_bfloat16><<<grid, p.head_dim, 0, stream>>>(p);
  } else {
    rope_store_kernel<__half><<<grid, p.head_dim, 0, stream>>>(p);
  }
  return cudaGetLastError();
}

cudaError_t launch_add_rms_norm(const AddRmsNormParams& p, cudaStream_t stream) {
  if (p.rows < 1 || p.hidden < 8 || p.hidden % 8 != 0 || (p.delta && !p.sum)) {
    return cudaErrorInvalidValue;
  }
  const dim3 grid(static_cast<unsigned>(p.rows));
  if (p.bf16) {
    add_rms_norm_kernel<__nv_bfloat16><<<grid, kNormThreads, 0, stream>>>(p);
  } else {
    add_rms_norm_kernel<__half><<<grid, kNormThreads, 0, stream>>>(p);
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
