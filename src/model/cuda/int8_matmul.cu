// int8 weights times a few rows of bfloat16/float16 activations on tensor
// cores (contract in fused_ops_kernels.h). The weight, read once, is all the
// traffic that matters, so it goes from memory straight into the registers
// of mma.sync's A operand, widened there (exactly: int8 values are integers
// a 16-bit float holds), with no shared memory and no barrier. The product
// accumulates in float32; the per-row scale comes last, as the GEMV's does.
//
// One m16n8k16 step multiplies 16 rows of w (outputs) by 8 rows of x
// (activations) over 16 columns. A lane of the warp holds, of A, rows g and
// g + 8 (g = lane / 4) at the step's columns 2q, 2q+1, 2q+8, 2q+9
// (q = lane % 4), and of B, x's row g at the same columns. Any order of the
// columns gives the same sum, so the kernel orders them for whole loads:
// in a 64-column chunk, step s's columns of lane q are the chunk's columns
// 16q + 4s to 16q + 4s + 3. Each lane then loads 16 contiguous bytes of each
// of its two rows of w in each of the warp's kMTiles tiles and 16 contiguous
// values of x a chunk, the same columns for both. x is read by every warp
// (from L1/L2), w once. Measured against the shared-memory WMMA kernel it
// replaced (docs/benchmarks.md, H100, 2026-12-06): int8 floor 11.42 ->
// 8.11 ms, 16 requests at once 1791 -> 2272 tokens/s.
#include <algorithm>

#include "model/cuda/fused_ops_kernels.h"
#include "model/cuda/half_convert.cuh"

namespace pcache::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMTiles = 2;           // 16-row tiles of w (outputs) a warp owns (1: 2% slower)
constexpr int kWarpOutputs = 16 * kMTiles;
constexpr int kBlocksPerSm = 3;      // CTAs a multiprocessor holds (168 registers a thread)
constexpr int kBlockOutputs = kWarpOutputs * kWarps;
constexpr int kChunk = 64;           // columns of w and x per step
static_assert(kChunk == kInt8MatmulGrain, "k is taken in whole chunks");
static_assert(kInt8MatmulRowsPerPass % 8 == 0, "a pass is whole 8-row tiles");
constexpr int kInFlight = 4 / kMTiles;  // chunks of w loaded ahead, per lane

// The 4 int8 values of `word` (lowest byte first) as two pairs of T, the
// A operand's form: lo holds values 0 and 1, hi 2 and 3 (exact).
template <typename T>
__device__ __forceinline__ void widen_pairs(uint32_t word, uint32_t& lo, uint32_t& hi);
template <>
__device__ __forceinline__ void widen_pairs<__nv_bfloat16>(uint32_t word, uint32_t& lo, uint32_t& hi) {
  // Through float32 (int8x4_to_float); the values are exact in bfloat16, so
  // a float's upper half is its bfloat16: one byte permute a pair.
  float f[4];
  int8x4_to_float(word, f);
  lo = __byte_perm(__float_as_uint(f[0]), __float_as_uint(f[1]), 0x7632);
  hi = __byte_perm(__float_as_uint(f[2]), __float_as_uint(f[3]), 0x7632);
}
template <>
__device__ __forceinline__ void widen_pairs<__half>(uint32_t word, uint32_t& lo, uint32_t& hi) {
  // Each byte with its sign bit flipped (v + 128) as the low mantissa byte
  // of float16 1024 (0x6400) is 1024 + v + 128; one subtraction a pair.
  const uint32_t biased = word ^ 0x80808080u;
  const __half2 offset = __half2half2(__ushort_as_half(0x6480));  // 1152
  const uint32_t raw[2] = {__byte_perm(biased, 0x64646464u, 0x4140), __byte_perm(biased, 0x64646464u, 0x4342)};
  const __half2 pairs[2] = {__hsub2(*reinterpret_cast<const __half2*>(&raw[0]), offset),
                            __hsub2(*reinterpret_cast<const __half2*>(&raw[1]), offset)};
  lo = *reinterpret_cast<const uint32_t*>(&pairs[0]);
  hi = *reinterpret_cast<const uint32_t*>(&pairs[1]);
}

// acc += A (16 x 16, rows of w) . B (16 x 8, rows of x), float32.
template <typename T>
__device__ __forceinline__ void mma_16x8x16(float (&acc)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma_16x8x16<__nv_bfloat16>(float (&acc)[4], const uint32_t (&a)[4], uint32_t b0,
                                                           uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma_16x8x16<__half>(float (&acc)[4], const uint32_t (&a)[4], uint32_t b0,
                                                    uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Output `out` from its float32 sum: scaled, the bias added, rounded once.
template <typename T>
__device__ __forceinline__ T scaled_output(float sum, const float* scale, const T* bias, int64_t out) {
  float v = sum * scale[out];
  if (bias) v += to_float(bias[out]);
  return from_float<T>(v);
}

// A CTA: kWarps * kWarpOutputs outputs over the columns of split
// blockIdx.y, for kTiles * 8 rows of x at most. Without `partial`, y =
// T(scale * sum + bias); with it, the split's float32 sums go to
// partial[blockIdx.y][rows][n] for int8_matmul_reduce.
template <typename T, int kTiles>
__global__ void __launch_bounds__(kWarps * 32, kBlocksPerSm)
    int8_matmul_kernel(const T* __restrict__ x, int64_t x_stride, const int8_t* __restrict__ w,
                       const float* __restrict__ scale, const T* __restrict__ bias, T* __restrict__ y,
                       int64_t y_stride, float* __restrict__ partial, int rows, int64_t n, int64_t k) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int g = lane / 4, q = lane % 4;
  const int64_t out0 = static_cast<int64_t>(blockIdx.x) * kBlockOutputs + warp * kWarpOutputs;
  // The lane's rows of w: g and g + 8 of each 16-row tile (rows past n
  // repeat the last: read, never written).
  const int8_t* w_rows[kMTiles][2];
#pragma unroll
  for (int m = 0; m < kMTiles; ++m) {
#pragma unroll
    for (int h = 0; h < 2; ++h) w_rows[m][h] = w + min(out0 + 16 * m + 8 * h + g, n - 1) * k + q * 16;
  }
  const int64_t chunks = k / kChunk;
  const int64_t begin = chunks * blockIdx.y / gridDim.y, end = chunks * (blockIdx.y + 1) / gridDim.y;

  float acc[kMTiles][kTiles][4];
#pragma unroll
  for (int m = 0; m < kMTiles; ++m) {
#pragma unroll
    for (int t = 0; t < kTiles; ++t) acc[m][t][0] = acc[m][t][1] = acc[m][t][2] = acc[m][t][3] = 0.f;
  }

  uint4 ahead[kInFlight][kMTiles][2];
#pragma unroll
  for (int u = 0; u < kInFlight; ++u) {
    if (begin + u < end) {
#pragma unroll
      for (int m = 0; m < kMTiles; ++m) {
#pragma unroll
        for (int h = 0; h < 2; ++h) ahead[u][m][h] = __ldcs(reinterpret_cast<const uint4*>(w_rows[m][h] + (begin + u) * kChunk));
      }
    }
  }
  for (int64_t c0 = begin; c0 < end; c0 += kInFlight) {
#pragma unroll
    for (int u = 0; u < kInFlight; ++u) {
      const int64_t c = c0 + u;
      if (c >= end) break;
      // A for the chunk's 4 steps: a[m][s] = {row g, row g + 8} x {pairs 0-1, 2-3} of word s.
      uint32_t a[kMTiles][4][4];
#pragma unroll
      for (int m = 0; m < kMTiles; ++m) {
        const uint32_t lo[4] = {ahead[u][m][0].x, ahead[u][m][0].y, ahead[u][m][0].z, ahead[u][m][0].w};
        const uint32_t hi[4] = {ahead[u][m][1].x, ahead[u][m][1].y, ahead[u][m][1].z, ahead[u][m][1].w};
#pragma unroll
        for (int s = 0; s < 4; ++s) {
          widen_pairs<T>(lo[s], a[m][s][0], a[m][s][2]);
          widen_pairs<T>(hi[s], a[m][s][1], a[m][s][3]);
        }
      }
      if (c + kInFlight < end) {  // its registers are free: the chunk kInFlight on
#pragma unroll
        for (int m = 0; m < kMTiles; ++m) {
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            ahead[u][m][h] = __ldcs(reinterpret_cast<const uint4*>(w_rows[m][h] + (c + kInFlight) * kChunk));
          }
        }
      }
#pragma unroll
      for (int t = 0; t < kTiles; ++t) {
        // x's row t * 8 + g, the lane's 16 columns (zeros past the last row).
        const int row = t * 8 + g;
        uint4 xv[2] = {make_uint4(0, 0, 0, 0), make_uint4(0, 0, 0, 0)};
        if (row < rows) {
          const uint4* src = reinterpret_cast<const uint4*>(x + row * x_stride + c * kChunk + q * 16);
          xv[0] = __ldg(src);
          xv[1] = __ldg(src + 1);
        }
        const uint32_t b[8] = {xv[0].x, xv[0].y, xv[0].z, xv[0].w, xv[1].x, xv[1].y, xv[1].z, xv[1].w};
#pragma unroll
        for (int s = 0; s < 4; ++s) {
#pragma unroll
          for (int m = 0; m < kMTiles; ++m) mma_16x8x16<T>(acc[m][t], a[m][s], b[2 * s], b[2 * s + 1]);
        }
      }
    }
  }

  // acc[m][t] = {(g, 2q), (g, 2q + 1), (g + 8, 2q), (g + 8, 2q + 1)} as
  // (output - out0 - 16m, row - 8t).
#pragma unroll
  for (int m = 0; m < kMTiles; ++m) {
#pragma unroll
    for (int t = 0; t < kTiles; ++t) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int64_t out = out0 + 16 * m + g + 8 * (i / 2);
        const int row = t * 8 + 2 * q + i % 2;
        if (out >= n || row >= rows) continue;
        if (partial) {
          partial[(static_cast<int64_t>(blockIdx.y) * rows + row) * n + out] = acc[m][t][i];
        } else {
          y[row * y_stride + out] = scaled_output(acc[m][t][i], scale, bias, out);
        }
      }
    }
  }
}

// y[row][out] = T(scale[out] * (sum over splits of partial) + bias[out]),
// the splits summed in order (the same result on every run).
template <typename T>
__global__ void int8_matmul_reduce(const float* __restrict__ partial, int splits, const float* __restrict__ scale,
                                   const T* __restrict__ bias, T* __restrict__ y, int64_t y_stride, int rows,
                                   int64_t n) {
  const int64_t at = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (at >= rows * n) return;
  const int64_t row = at / n, out = at % n;
  float sum = 0.f;
  for (int s = 0; s < splits; ++s) sum += partial[s * rows * n + at];
  y[row * y_stride + out] = scaled_output(sum, scale, bias, out);
}

template <typename T, int kTiles>
cudaError_t launch_tiles(const Int8MatmulParams& p, const T* x, T* y, int rows, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((p.n + kBlockOutputs - 1) / kBlockOutputs), static_cast<unsigned>(p.splits));
  int8_matmul_kernel<T, kTiles><<<grid, kWarps * 32, 0, stream>>>(
      x, p.x_stride, p.w, p.scale, static_cast<const T*>(p.bias), y, p.y_stride,
      p.splits > 1 ? p.partial : nullptr, rows, p.n, p.k);
  if (p.splits > 1) {
    const int64_t outputs = rows * p.n;
    int8_matmul_reduce<T><<<static_cast<unsigned>((outputs + 255) / 256), 256, 0, stream>>>(
        p.partial, p.splits, p.scale, static_cast<const T*>(p.bias), y, p.y_stride, rows, p.n);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_for_type(const Int8MatmulParams& p, cudaStream_t stream) {
  for (int r0 = 0; r0 < p.rows; r0 += kInt8MatmulRowsPerPass) {
    const int rows = std::min(p.rows - r0, kInt8MatmulRowsPerPass);
    const T* x = static_cast<const T*>(p.x) + r0 * p.x_stride;
    T* y = static_cast<T*>(p.y) + r0 * p.y_stride;
    cudaError_t err = cudaSuccess;
    switch ((rows + 7) / 8) {
      case 1: err = launch_tiles<T, 1>(p, x, y, rows, stream); break;
      case 2: err = launch_tiles<T, 2>(p, x, y, rows, stream); break;
      case 3: err = launch_tiles<T, 3>(p, x, y, rows, stream); break;
      case 4: err = launch_tiles<T, 4>(p, x, y, rows, stream); break;
      case 5: err = launch_tiles<T, 5>(p, x, y, rows, stream); break;
      case 6: err = launch_tiles<T, 6>(p, x, y, rows, stream); break;
      case 7: err = launch_tiles<T, 7>(p, x, y, rows, stream); break;
      default: err = launch_tiles<T, 8>(p, x, y, rows, stream); break;
    }
    if (err != cudaSuccess) return err;
  }
  return cudaSuccess;
}

}  // namespace

int int8_matmul_splits(int64_t n, int64_t k, int multiprocessors) {
  // kBlocksPerSm CTAs a multiprocessor, each split long enough to keep
  // kInFlight chunks in flight.
  const int64_t blocks = (n + kBlockOutputs - 1) / kBlockOutputs;
  const int64_t wanted = (int64_t{kBlocksPerSm} * multiprocessors + blocks - 1) / blocks;
  const int64_t most = k / kChunk / kInFlight;
  return static_cast<int>(std::max<int64_t>(1, std::min(wanted, most)));
}

cudaError_t launch_int8_matmul(const Int8MatmulParams& p, cudaStream_t stream) {
  if (p.rows < 1 || p.rows > kInt8MatmulMaxRows || p.n < 1 || p.k < kInt8MatmulGrain ||
      p.k % kInt8MatmulGrain != 0 || p.x_stride % 8 != 0 || !p.scale || p.splits < 1 ||
      (p.splits > 1 && !p.partial)) {
    return cudaErrorInvalidValue;
  }
  return p.bf16 ? launch_for_type<__nv_bfloat16>(p, stream) : launch_for_type<__half>(p, stream);
}

}  // namespace pcache::cuda
