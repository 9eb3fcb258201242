// Paged attention: new tokens attending to K/V that live in a BlockPool,
// read in place through each sequence's slots by this project's CUDA kernels
// (cuda/paged_attention.cu; built only when CMake finds a CUDA toolkit).
//
// Interface: every sequence is given as the list of its entries' pool slots
// (ragged block tables need nothing more: a partial block in the middle of a
// table is just fewer slots) and the rows of q that hold its new tokens, its
// last n entries. New token i of a sequence of S entries sees entries
// 0 .. S - n + i: the whole context, then the new tokens causally. This is
// what PagedSequence::slots() already gives, it costs 4 bytes per entry per
// forward (against 2 * Hkv * D * 2 bytes of K/V read per entry per layer), and
// the kernels then handle decode (n = 1) and extends (any n) alike. A Mistral
// sliding window hides keys `window` positions or more before the query (by
// position, as the dense path's mask does).
//
// A PagedAttentionPlan is built on the host once per forward, uploaded in one
// copy, and used by every layer. A captured CUDA graph keeps one plan whose
// device buffers stay in place: allocate() once, then refill() from a plan
// built on the host before each replay. Not thread-safe.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace pcache {

// Whether paged_attention() runs here: the kernels were built, `device` is
// CUDA, `dtype` is bfloat16 or float16, and the head size (16, 32, 64, 128 or
// 256) and query heads per KV head (1 to 8) have kernels.
bool paged_attention_available(at::Device device, at::ScalarType dtype, int64_t head_dim,
                               int64_t group);

// The multiprocessors of a CUDA device (1 elsewhere): what the kernels'
// splits, and the parts a run is cut into for cuDNN, are sized by.
int64_t multiprocessors(at::Device device);

class PagedAttentionPlan {
 public:
  // `window`: the sliding window (positions), or none.
  explicit PagedAttentionPlan(std::optional<int64_t> window = std::nullopt) : window_(window) {}

  // A sequence whose entries sit at pool rows `slots` (and at `positions`,
  // read only with a window), the last `n` of them new: their queries are
  // rows q_row .. q_row + n - 1 of q. Throws c10::Error when n is not in
  // [1, slots.size()] or a value does not fit 32 bits.
  void add(const std::vector<int64_t>& slots, const std::vector<int64_t>& positions, int64_t q_row,
           int64_t n);

  int64_t rows() const { return static_cast<int64_t>(rows_.size() / 3); }
  int64_t entries() const { return static_cast<int64_t>(slots_.size()); }
  bool empty() const { return rows_.empty(); }
  // The splits per (row, KV head) upload() picks for the rows added so far:
  // each (row, KV head) is split over several CTAs when rows * kv_heads alone
  // would leave the GPU idle.
  int64_t splits(at::Device device, int64_t num_kv_heads) const;

  // Copies the plan to `device` in one transfer and sizes the work for a
  // model of these heads: each (row, KV head) is split over several CTAs when
  // rows * kv_heads alone would leave the GPU idle. Once; no add() after it.
  // `with_prefix`: for paged_attention() with a prefix.
  void upload(at::Device device, int64_t num_heads, int64_t num_kv_heads, int64_t head_dim,
              bool with_prefix = false);

  // Graph use: device buffers for `max_rows` rows and `max_entries` entries,
  // split `splits` ways, that stay in place; the kernels always run
  // `max_rows` rows, those not added being padding (no work, out untouched).
  // `with_prefix`: for paged_attention() with a prefix.
  void allocate(at::Device device, int64_t max_rows, int64_t max_entries, int64_t splits,
                int64_t num_heads, int64_t num_kv_heads, int64_t head_dim,
                bool with_prefix = false);
  // Copies what was added to `from` (a plan with the same window, not
  // uploaded) into these buffers, asynchronously on the current stream.
  // False, with nothing copied, when it exceeds them.
  bool refill(const PagedAttentionPlan& from);
  int64_t max_entries() const { return max_entries_; }

 private:
  friend struct PagedAttentionLaunch;  // paged_attention()'s, in the .cc

  std::optional<int64_t> window_;
  std::vector<int32_t> slots_, rows_, key_pos_;  // host: rows_ is [rows, 3] (q row, first, count)
  int64_t max_count_ = 0;
  bool uploaded_ = false;
  // After upload() or allocate(): views of one int32 device buffer
  // ([rows, 3], then the slots, then the positions), and the splits' scratch.
  at::Tensor device_buffer_, device_slots_, device_rows_, device_key_pos_;
  at::Tensor partial_out_, partial_ml_;  // [rows, H, splits, D], [rows, H, splits, 2] float32
  int64_t num_heads_ = 0, num_kv_heads_ = 0, head_dim_ = 0, splits_ = 0;
  int64_t launch_rows_ = 0, max_entries_ = 0;  // the kernels' rows; allocate()'s capacity
  bool with_prefix_ = false;
};

// For every row r of the plan: out[r] = softmax(q[r] . k^T * scale) v over the
// entries row r sees, per query head, K/V head h / (H / Hkv). q: [N, H, D]
// (the last dim contiguous; row and head strides multiples of 8 elements);
// k, v: a pool layer [pool rows, Hkv, D], contiguous; out: [N, H, D]
// contiguous, same dtype; rows of out not in the plan are left as they are.
// The plan must be uploaded for these shapes. Runs on the current CUDA stream
// (asynchronously). Throws c10::Error (bad shapes, no kernels, a launch error).
//
// Cascade attention: entries that every row sees first (a module all the
// sequences share) can be left out of the plan and attended beforehand for
// all rows at once (one pass over them instead of one per row), giving
// prefix_out ([N, H, D] like out) and prefix_lse ([N, H] float32, the
// natural log-sum-exp of each row's scores over them); they are merged in.
// The plan must then be allocated with_prefix.
void paged_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const PagedAttentionPlan& plan, double scale, at::Tensor& out,
                     const at::Tensor& prefix_out = at::Tensor(),
                     const at::Tensor& prefix_lse = at::Tensor());

// A cascade prefix in P parts over disjoint entries (a module's run, cut in
// parts that are computed as a batch), each part with a KV head's query
// heads packed as rows: row t * G + g of KV head kv is q row t's head
// kv * G + g (G query heads per KV head). out: [P, Hkv, N G, D], the last
// dim contiguous; lse: [P, Hkv, N G] float32 contiguous, natural log.
struct PrefixParts {
  at::Tensor out, lse;
};
inline constexpr int64_t kMaxPrefixParts = 64;
// paged_attention() with the parts merged in (the plan allocated with_prefix).
void paged_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const PagedAttentionPlan& plan, double scale, at::Tensor& out,
                     const PrefixParts& prefix);

}  // namespace pcache
