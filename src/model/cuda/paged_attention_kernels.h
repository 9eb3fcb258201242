// The paged-attention CUDA kernels' launch interface: plain C++ types and
// raw device pointers, so that the .cu file needs no libtorch headers (nvcc
// never compiles ATen) and model/paged_attention.cc owns every tensor.
//
// The work is a list of query rows. Row w attends query row q_row[w] of q,
// for all the query heads of each KV head, over entries[w] =
// slots[first[w] .. first[w] + count[w]): the pool rows of the entries it
// sees, in order, its own entry last (causality is in the counts). The
// result goes to the same row of out. A row with count 0 is skipped
// (padding). Rows, slots and counts are read from device memory, so a
// captured CUDA graph replays with new ones.
//
// Each (row, KV head) is split over up to num_splits CTAs of at least
// min_split entries (flash-decoding); a second kernel combines the splits'
// partial softmaxes. Half or bfloat16 in and out, float32 accumulation.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace pcache::cuda {

// Most splits per (row, KV head): bounds the scratch buffers and the
// combine step's shared memory.
constexpr int kMaxSplits = 256;

struct PagedAttentionParams {
  const void* q = nullptr;  // [.., H, D]: rows q_row_stride apart, heads q_head_stride apart (elements)
  int64_t q_row_stride = 0, q_head_stride = 0;
  const void* k = nullptr;  // the pool's layer: [pool rows, Hkv, D], rows kv_row_stride apart
  const void* v = nullptr;
  int64_t kv_row_stride = 0, kv_head_stride = 0;
  void* out = nullptr;  // [.., H, D], like q
  int64_t out_row_stride = 0, out_head_stride = 0;

  const int32_t* slots = nullptr;    // [E] pool rows
  const int32_t* rows = nullptr;     // [num_rows, 3]: q row, first, count
  const int32_t* key_pos = nullptr;  // [E] positions, or null: no window
  int32_t window = 0;  // with key_pos: keys whose position is `window` or more before the query's are hidden

  int32_t num_rows = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  int32_t num_splits = 1;  // CTAs per (row, KV head) at most, 1 to kMaxSplits
  int32_t min_split = 64;  // entries per split at least; a multiple of 16
  float scale = 1.0f;
  bool bf16 = true;  // else float16

  // Used when num_splits > 1 or with a prefix: [num_rows, H, num_splits, D]
  // and [.., 2] float32.
  float* partial_out = nullptr;
  float* partial_ml = nullptr;

  // Cascade attention: attention over entries all rows share, computed
  // beforehand (for all rows at once), merged in, in prefix_parts parts
  // over disjoint entries (0: no prefix): each part's output (normalised)
  // and the log-sum-exp of its scores (natural log, float32). The element
  // of part i for q row r, query head kv * G + g (G query heads per KV
  // head), dim d is at i * part + kv * kv_head + g * group + r * row (+ d
  // for the output, whose dims are contiguous), strides in elements.
  struct PrefixStrides {
    int64_t part = 0, kv_head = 0, group = 0, row = 0;
  };
  int32_t prefix_parts = 0;
  const void* prefix_out = nullptr;
  const float* prefix_lse = nullptr;
  PrefixStrides prefix_out_strides, prefix_lse_strides;
};

// Most parts of a prefix.
constexpr int kMaxPrefixParts = 64;

// Whether the kernels exist for this head size and query heads per KV head.
bool paged_attention_supported(int head_dim, int group);

// Launches the kernels on `stream`. Returns the launch's error (cudaSuccess,
// or cudaErrorInvalidValue for an unsupported shape).
cudaError_t launch_paged_attention(const PagedAttentionParams& p, cudaStream_t stream);

}  // namespace pcache::cuda
