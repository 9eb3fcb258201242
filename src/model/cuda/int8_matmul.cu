// int8 weights times a few rows of bfloat16/float16 activations on tensor
// cores (contract in fused_ops_kernels.h). The weight, read once, is all the
// traffic that matters; each 64-column chunk of it is widened to the
// activations' type in shared memory (exactly: int8 values are integers a
// 16-bit float holds) and multiplied there with WMMA 16x16x16 tiles,
// accumulating in float32; the per-row scale comes last, as the GEMV's does.
#include <mma.h>

#include <algorithm>

#include "model/cuda/fused_ops_kernels.h"
#include "model/cuda/half_convert.cuh"

namespace pcache::cuda {
namespace {

constexpr int kWarps = 8;            // each owns 16 rows of w (outputs)
constexpr int kBlocksPerSm = 2;      // CTAs a multiprocessor holds (128 registers a thread)
constexpr int kBlockOutputs = 16 * kWarps;
constexpr int kChunk = 64;           // columns of w and x per step
static_assert(kChunk == kInt8MatmulGrain, "k is taken in whole chunks");
constexpr int kLd = kChunk + 8;      // shared rows padded against bank conflicts
constexpr int kInFlight = 4;         // chunks loaded ahead, per warp

// One chunk as the threads hold it on its way to shared memory: each lane
// 32 int8 values of its warp's 16 rows of w (row lane / 2, half lane % 2),
// and the CTA's share of x's [16 * tiles, 64] (row-major, 8 values a load).
template <int kTiles>
struct Chunk {
  static constexpr int kXLoads = (16 * kTiles * kChunk / 8 + kWarps * 32 - 1) / (kWarps * 32);
  uint4 w[2];
  uint4 x[kXLoads];
};

template <typename T, int kTiles>
__device__ __forceinline__ void load_chunk(Chunk<kTiles>& c, const T* __restrict__ x, int64_t x_stride,
                                           int rows, const int8_t* w_row, int64_t column) {
  const int lane = threadIdx.x % 32;
  const uint4* w16 = reinterpret_cast<const uint4*>(w_row + column + (lane % 2) * 32);
  c.w[0] = __ldcs(w16);
  c.w[1] = __ldcs(w16 + 1);
#pragma unroll
  for (int i = 0; i < Chunk<kTiles>::kXLoads; ++i) {
    const int at = threadIdx.x + i * kWarps * 32;  // the load's index in the chunk
    const int row = at / (kChunk / 8), col = (at % (kChunk / 8)) * 8;
    c.x[i] = at < 16 * kTiles * kChunk / 8 && row < rows
                 ? __ldg(reinterpret_cast<const uint4*>(x + row * x_stride + column + col))
                 : make_uint4(0, 0, 0, 0);  // rows past the last: zeros, never read from memory
  }
}

// 8 int8 values (two words) widened to 8 values of T, as one 16-byte store
// (exact: every int8 value is a 16-bit float).
template <typename T>
__device__ __forceinline__ uint4 widen8(uint32_t lo, uint32_t hi) {
  float f[8];
  int8x4_to_float(lo, f);
  int8x4_to_float(hi, f + 4);
  return pack8<T>(f);
}

// Output `out` from its float32 sum: scaled, the bias added, rounded once.
template <typename T>
__device__ __forceinline__ T scaled_output(float sum, const float* scale, const T* bias, int64_t out) {
  float v = sum * scale[out];
  if (bias) v += to_float(bias[out]);
  return from_float<T>(v);
}

// A CTA: kWarps * 16 outputs over the columns of split blockIdx.y. Without
// `partial`, y = T(scale * sum + bias); with it, the split's float32 sums
// go to partial[blockIdx.y][rows][n] for int8_matmul_reduce.
template <typename T, int kTiles>
__global__ void __launch_bounds__(kWarps * 32, kBlocksPerSm)
    int8_matmul_kernel(const T* __restrict__ x, int64_t x_stride, const int8_t* __restrict__ w,
                       const float* __restrict__ scale, const T* __restrict__ bias, T* __restrict__ y,
                       int64_t y_stride, float* __restrict__ partial, int rows, int64_t n, int64_t k) {
  using namespace nvcuda;
  __shared__ __align__(32) T xs[16 * kTiles * kLd];       // x's chunk, shared by the warps
  __shared__ __align__(32) T ws[kWarps][16 * kLd];        // each warp's rows of w, widened
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t out0 = static_cast<int64_t>(blockIdx.x) * kBlockOutputs + warp * 16;
  // A row past n repeats the last (read, never written).
  const int8_t* w_row = w + min(out0 + lane / 2, n - 1) * k;
  const int64_t chunks = k / kChunk;
  const int64_t begin = chunks * blockIdx.y / gridDim.y, end = chunks * (blockIdx.y + 1) / gridDim.y;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[kTiles];
#pragma unroll
  for (int t = 0; t < kTiles; ++t) wmma::fill_fragment(acc[t], 0.f);

  Chunk<kTiles> ahead[kInFlight];
#pragma unroll
  for (int u = 0; u < kInFlight; ++u) {
    if (begin + u < end) load_chunk<T, kTiles>(ahead[u], x, x_stride, rows, w_row, (begin + u) * kChunk);
  }
  for (int64_t c0 = begin; c0 < end; c0 += kInFlight) {
#pragma unroll
    for (int u = 0; u < kInFlight; ++u) {
      const int64_t c = c0 + u;
      if (c >= end) break;  // the same for the whole CTA
      const Chunk<kTiles>& now = ahead[u];
      __syncthreads();  // the last chunk's tiles are read
#pragma unroll
      for (int i = 0; i < Chunk<kTiles>::kXLoads; ++i) {
        const int at = threadIdx.x + i * kWarps * 32;
        if (at < 16 * kTiles * kChunk / 8) {
          *reinterpret_cast<uint4*>(xs + (at / (kChunk / 8)) * kLd + (at % (kChunk / 8)) * 8) = now.x[i];
        }
      }
      T* w_dst = ws[warp] + (lane / 2) * kLd + (lane % 2) * 32;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const uint4 raw = now.w[half];
        *reinterpret_cast<uint4*>(w_dst + 16 * half) = widen8<T>(raw.x, raw.y);
        *reinterpret_cast<uint4*>(w_dst + 16 * half + 8) = widen8<T>(raw.z, raw.w);
      }
      if (c + kInFlight < end) {  // its registers are free: the chunk kInFlight on
        load_chunk<T, kTiles>(ahead[u], x, x_stride, rows, w_row, (c + kInFlight) * kChunk);
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < kChunk; kk += 16) {
        // w's rows are the product's columns: w[out][k] is B[k][out], column-major.
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b;
        wmma::load_matrix_sync(b, ws[warp] + kk, kLd);
#pragma unroll
        for (int t = 0; t < kTiles; ++t) {
          wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
          wmma::load_matrix_sync(a, xs + t * 16 * kLd + kk, kLd);
          wmma::mma_sync(acc[t], a, b, acc[t]);
        }
      }
    }
  }

  // Out through the warp's own staging, a 16x16 float tile at a time: lane
  // l writes row l / 2's 8 outputs (l % 2) * 8 onwards.
  __syncthreads();
  float* tile = reinterpret_cast<float*>(ws[warp]);  // 1 KB of its 2.3
  const int tile_row = lane / 2, tile_col = (lane % 2) * 8;
#pragma unroll
  for (int t = 0; t < kTiles; ++t) {
    wmma::store_matrix_sync(tile, acc[t], 16, wmma::mem_row_major);
    __syncwarp();
    const int row = t * 16 + tile_row;
    if (row < rows) {
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int64_t out = out0 + tile_col + i;
        if (out >= n) break;
        const float sum = tile[tile_row * 16 + tile_col + i];
        if (partial) {
          partial[(static_cast<int64_t>(blockIdx.y) * rows + row) * n + out] = sum;
        } else {
          y[row * y_stride + out] = scaled_output(sum, scale, bias, out);
        }
      }
    }
    __syncwarp();
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
    switch ((rows + 15) / 16) {
      case 1: err = launch_tiles<T, 1>(p, x, y, rows, stream); break;
      case 2: err = launch_tiles<T, 2>(p, x, y, rows, stream); break;
      case 3: err = launch_tiles<T, 3>(p, x, y, rows, stream); break;
      default: err = launch_tiles<T, 4>(p, x, y, rows, stream); break;
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
