// Paged attention on CUDA: decode and short extends over K/V read through
// per-entry slot lists (contract in paged_attention_kernels.h).
//
// One CTA computes one query row for all the query heads of one KV head over
// one split of its entries, so each K/V row is read once for the whole group
// (GQA). The CTA's 4 warps read keys in groups of D / 8 lanes: each lane
// loads 16 bytes of a key row and of its value row, so one group covers a
// whole row with one coalesced access, and a warp reads 32 / (D / 8) rows at
// a time, kUnroll times over before using any (loads in flight hide the
// latency of the slot indirection and of HBM). Each group keeps its own
// online softmax (running max, sum, weighted values) in float32; the groups
// are merged in shared memory at the end, and the splits of a row by
// combine_kernel (flash-decoding).
//
// Scores are kept in base 2 (q is scaled by scale * log2(e)), so the
// softmax's exponentials are exp2f.
#include <math_constants.h>

#include "model/cuda/half_convert.cuh"
#include "model/cuda/paged_attention_kernels.h"

namespace pcache::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kUnroll = 4;
constexpr float kLog2e = 1.4426950408889634f;
// The running max before any key: finite, so that exp2f of a difference is
// 0 or 1 and never NaN (-inf - -inf).
constexpr float kNoScore = -1e30f;

// Entries per split of a row that sees `count` entries: an even share of
// num_splits, rounded up to 16, at least min_split. Computed on the device
// from the row's count, so a graph captured with fixed num_splits serves
// every length.
__device__ __forceinline__ int split_length(int count, int num_splits, int min_split) {
  int per = (count + num_splits - 1) / num_splits;
  per = (per + 15) & ~15;
  return per > min_split ? per : min_split;
}

template <typename T, int D, int G>
__global__ void __launch_bounds__(kThreads) attend_kernel(const PagedAttentionParams p) {
  constexpr int kLanes = D / 8;                     // lanes reading one key row
  constexpr int kKeysPerWarp = 32 / kLanes;         // rows a warp reads at once
  constexpr int kGroups = kWarps * kKeysPerWarp;    // lane groups in the CTA
  constexpr int kKeysPerStep = kGroups * kUnroll;   // rows the CTA reads per step

  const int w = blockIdx.x, kv_head = blockIdx.y, split = blockIdx.z;
  const int q_row = p.rows[3 * w], first = p.rows[3 * w + 1], count = p.rows[3 * w + 2];
  const int chunk = split_length(count, p.num_splits, p.min_split);
  const int begin = split * chunk;
  if (begin >= count) return;  // padding rows (count 0) and splits past the end
  const int end = min(count, begin + chunk);
  const int group = p.num_heads / p.num_kv_heads;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int part = lane % kLanes;                       // which 8 of the D dims
  const int key_group = warp * kKeysPerWarp + lane / kLanes;

  // This lane's 8 dims of the group's query heads, scaled for exp2.
  const T* q = static_cast<const T*>(p.q) + q_row * p.q_row_stride +
               static_cast<int64_t>(kv_head) * group * p.q_head_stride + part * 8;
  const float q_scale = p.scale * kLog2e;
  float qf[G][8];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (g < group) {
      unpack8<T>(*reinterpret_cast<const uint4*>(q + g * p.q_head_stride), qf[g]);
#pragma unroll
      for (int i = 0; i < 8; ++i) qf[g][i] *= q_scale;
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) qf[g][i] = 0.f;
    }
  }

  const int32_t* slots = p.slots + first;
  const int32_t* key_pos = p.key_pos ? p.key_pos + first : nullptr;
  const int query_pos = key_pos ? key_pos[count - 1] : 0;  // a row's own entry is its last
  const T* k_base = static_cast<const T*>(p.k) + kv_head * p.kv_head_stride + part * 8;
  const T* v_base = static_cast<const T*>(p.v) + kv_head * p.kv_head_stride + part * 8;

  float m[G], l[G], acc[G][8];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = kNoScore;
    l[g] = 0.f;
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[g][i] = 0.f;
  }

  // The slots of the next step are loaded a step ahead, so that a step's
  // K/V loads wait on one memory latency, not two.
  int next_slot[kUnroll];
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const int idx = begin + u * kGroups + key_group;
    next_slot[u] = idx < end ? slots[idx] : 0;
  }
  for (int step = begin; step < end; step += kKeysPerStep) {
    bool ok[kUnroll];
    int64_t offset[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int idx = step + u * kGroups + key_group;
      ok[u] = idx < end;
      offset[u] = static_cast<int64_t>(next_slot[u]) * p.kv_row_stride;
      const int ahead = idx + kKeysPerStep;
      next_slot[u] = ahead < end ? slots[ahead] : 0;
      if (key_pos && ok[u]) ok[u] = query_pos - key_pos[idx] < p.window;
    }
    uint4 k_raw[kUnroll], v_raw[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (ok[u]) {
        k_raw[u] = __ldg(reinterpret_cast<const uint4*>(k_base + offset[u]));
        v_raw[u] = __ldg(reinterpret_cast<const uint4*>(v_base + offset[u]));
      } else {
        k_raw[u] = make_uint4(0, 0, 0, 0);
        v_raw[u] = make_uint4(0, 0, 0, 0);
      }
    }
    float s[kUnroll][G];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      float kf[8];
      unpack8<T>(k_raw[u], kf);
#pragma unroll
      for (int g = 0; g < G; ++g) {
        float dot = 0.f;
#pragma unroll
        for (int i = 0; i < 8; ++i) dot = fmaf(qf[g][i], kf[i], dot);
        s[u][g] = dot;
      }
    }
    // Sum over the lanes of a group (consecutive lanes: xor stays inside).
#pragma unroll
    for (int offset_lanes = kLanes / 2; offset_lanes > 0; offset_lanes /= 2) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
        for (int g = 0; g < G; ++g) s[u][g] += __shfl_xor_sync(0xffffffffu, s[u][g], offset_lanes);
      }
    }
    float vf[kUnroll][8];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) unpack8<T>(v_raw[u], vf[u]);
#pragma unroll
    for (int g = 0; g < G; ++g) {
      float mx = m[g];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (!ok[u]) s[u][g] = -CUDART_INF_F;
        mx = fmaxf(mx, s[u][g]);
      }
      const float correction = exp2f(m[g] - mx);
      m[g] = mx;
      l[g] *= correction;
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[g][i] *= correction;
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const float prob = exp2f(s[u][g] - mx);
        l[g] += prob;
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[g][i] = fmaf(prob, vf[u][i], acc[g][i]);
      }
    }
  }

  // Merge the lane groups' softmaxes.
  __shared__ float sh_ml[kGroups][G][2];
  __shared__ float sh_acc[kGroups][G][D];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (part == 0) {
      sh_ml[key_group][g][0] = m[g];
      sh_ml[key_group][g][1] = l[g];
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) sh_acc[key_group][g][part * 8 + i] = acc[g][i];
  }
  __syncthreads();
  const int active = (count + chunk - 1) / chunk;
  for (int e = threadIdx.x; e < group * D; e += kThreads) {
    const int g = e / D, d = e % D;
    float mx = kNoScore;
    for (int k = 0; k < kGroups; ++k) mx = fmaxf(mx, sh_ml[k][g][0]);
    float sum = 0.f, a = 0.f;
    for (int k = 0; k < kGroups; ++k) {
      const float c = exp2f(sh_ml[k][g][0] - mx);
      sum = fmaf(sh_ml[k][g][1], c, sum);
      a = fmaf(sh_acc[k][g][d], c, a);
    }
    const int head = kv_head * group + g;
    if (active == 1 && p.prefix_parts == 0) {
      static_cast<T*>(p.out)[q_row * p.out_row_stride + head * p.out_head_stride + d] =
          from_float<T>(a / sum);
    } else {
      const int64_t at = (static_cast<int64_t>(w) * p.num_heads + head) * p.num_splits + split;
      p.partial_out[at * D + d] = a;
      if (d == 0) {
        p.partial_ml[2 * at] = mx;
        p.partial_ml[2 * at + 1] = sum;
      }
    }
  }
}

// out = the splits' partial results, each weighted by its share of the
// softmax's denominator. One CTA per (row, query head). The splits are read
// in parallel: first their weights (a thread per split), then D / 4 threads
// per split, each a float4 of its partial output, kCombineThreads / (D / 4)
// splits at a time, summed in shared memory at the end. (A thread per dim
// looping over the splits waited on hundreds of loads in a row: at 256
// splits that was most of a 16k-token decode step.)
constexpr int kCombineThreads = 256;

template <typename T, int D>
__global__ void __launch_bounds__(kCombineThreads) combine_kernel(const PagedAttentionParams p) {
  constexpr int kLanes = D / 4;                         // threads per split
  constexpr int kAtOnce = kCombineThreads / kLanes;     // splits read at once
  const int w = blockIdx.x, head = blockIdx.y;
  const int q_row = p.rows[3 * w], count = p.rows[3 * w + 2];
  const int chunk = split_length(count, p.num_splits, p.min_split);
  const int active = (count + chunk - 1) / chunk;
  if (active <= 1 && p.prefix_parts == 0) return;  // written by attend_kernel (or padding)
  const int64_t base = (static_cast<int64_t>(w) * p.num_heads + head) * p.num_splits;
  const float* ml = p.partial_ml + 2 * base;
  __shared__ float scratch[kCombineThreads / 32];
  __shared__ float weight[kMaxSplits];
  __shared__ float4 partial[kCombineThreads];

  // The prefix's parts are more partial results: a part's max is its
  // log-sum-exp (in base 2, as the kernels' scores) and its sum 1.
  const int group = p.num_heads / p.num_kv_heads, kv = head / group, g = head % group;
  auto prefix_offset = [&](const PagedAttentionParams::PrefixStrides& s, int part) {
    return part * s.part + kv * s.kv_head + g * s.group + static_cast<int64_t>(q_row) * s.row;
  };
  __shared__ float prefix_weight[kMaxPrefixParts];
  float mx = kNoScore;
  for (int i = 0; i < p.prefix_parts; ++i) {
    mx = fmaxf(mx, p.prefix_lse[prefix_offset(p.prefix_lse_strides, i)] * kLog2e);
  }
  for (int i = threadIdx.x; i < active; i += kCombineThreads) mx = fmaxf(mx, ml[2 * i]);
  mx = block_reduce<kCombineThreads, true>(mx, scratch);
  float sum = 0.f;
  for (int i = threadIdx.x; i < active; i += kCombineThreads) {
    const float c = exp2f(ml[2 * i] - mx);
    weight[i] = c;
    sum = fmaf(ml[2 * i + 1], c, sum);
  }
  for (int i = threadIdx.x; i < p.prefix_parts; i += kCombineThreads) {
    prefix_weight[i] = exp2f(p.prefix_lse[prefix_offset(p.prefix_lse_strides, i)] * kLog2e - mx);
  }
  sum = block_reduce<kCombineThreads, false>(sum, scratch);  // also makes the weights visible
  for (int i = 0; i < p.prefix_parts; ++i) sum += prefix_weight[i];

  const int lane = threadIdx.x % kLanes, first = threadIdx.x / kLanes;
  float4 a = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int i = first; i < active; i += kAtOnce) {
    const float4 v = *reinterpret_cast<const float4*>(p.partial_out + (base + i) * D + 4 * lane);
    const float c = weight[i];
    a.x = fmaf(c, v.x, a.x);
    a.y = fmaf(c, v.y, a.y);
    a.z = fmaf(c, v.z, a.z);
    a.w = fmaf(c, v.w, a.w);
  }
  partial[threadIdx.x] = a;
  __syncthreads();
  if (first != 0) return;
  float out[4] = {0.f, 0.f, 0.f, 0.f};
  for (int k = 0; k < kAtOnce; ++k) {
    const float4 v = partial[k * kLanes + lane];
    out[0] += v.x, out[1] += v.y, out[2] += v.z, out[3] += v.w;
  }
  for (int i = 0; i < p.prefix_parts; ++i) {
    const T* prefix = static_cast<const T*>(p.prefix_out) + prefix_offset(p.prefix_out_strides, i) + 4 * lane;
#pragma unroll
    for (int j = 0; j < 4; ++j) out[j] = fmaf(to_float(prefix[j]), prefix_weight[i], out[j]);
  }
  const int64_t at = static_cast<int64_t>(q_row) * p.out_row_stride + head * p.out_head_stride + 4 * lane;
#pragma unroll
  for (int j = 0; j < 4; ++j) static_cast<T*>(p.out)[at + j] = from_float<T>(out[j] / sum);
}

template <typename T, int D, int G>
cudaError_t launch(const PagedAttentionParams& p, cudaStream_t stream) {
  attend_kernel<T, D, G><<<dim3(p.num_rows, p.num_kv_heads, p.num_splits), kThreads, 0, stream>>>(p);
  if (p.num_splits > 1 || p.prefix_parts > 0) {
    combine_kernel<T, D><<<dim3(p.num_rows, p.num_heads), kCombineThreads, 0, stream>>>(p);
  }
  return cudaGetLastError();
}

// Query heads per KV head, rounded up to the next instantiated group size
// (the unused heads' lanes compute on zeros and write nothing).
template <typename T, int D>
cudaError_t launch_for_group(const PagedAttentionParams& p, cudaStream_t stream) {
  const int group = p.num_heads / p.num_kv_heads;
  if (group <= 1) return launch<T, D, 1>(p, stream);
  if (group <= 2) return launch<T, D, 2>(p, stream);
  if (group <= 4) return launch<T, D, 4>(p, stream);
  if (group <= 8) return launch<T, D, 8>(p, stream);
  return cudaErrorInvalidValue;
}

template <typename T>
cudaError_t launch_for_dim(const PagedAttentionParams& p, cudaStream_t stream) {
  switch (p.head_dim) {
    case 16: return launch_for_group<T, 16>(p, stream);
    case 32: return launch_for_group<T, 32>(p, stream);
    case 64: return launch_for_group<T, 64>(p, stream);
    case 128: return launch_for_group<T, 128>(p, stream);
    case 256: return launch_for_group<T, 256>(p, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

bool paged_attention_supported(int head_dim, int group) {
  const bool dim = head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128 ||
                   head_dim == 256;
  return dim && group >= 1 && group <= 8;
}

cudaError_t launch_paged_attention(const PagedAttentionParams& p, cudaStream_t stream) {
  if (p.num_rows < 1 || p.num_kv_heads < 1 || p.num_heads % p.num_kv_heads != 0 ||
      p.num_splits < 1 || p.num_splits > kMaxSplits || p.min_split < 16 || p.min_split % 16 != 0 ||
      p.prefix_parts < 0 || p.prefix_parts > kMaxPrefixParts || (p.prefix_parts > 0 && !p.prefix_out) ||
      !paged_attention_supported(p.head_dim, p.num_heads / p.num_kv_heads)) {
    return cudaErrorInvalidValue;
  }
  return p.bf16 ? launch_for_dim<__nv_bfloat16>(p, stream) : launch_for_dim<__half>(p, stream);
}

}  // namespace pcache::cuda
