#include "model/paged_attention.h"

#include <algorithm>
#include <functional>
#include <limits>

#if defined(PCACHE_PAGED_KERNELS)
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>

#include "model/cuda/paged_attention_kernels.h"
#endif

namespace pcache {
namespace {

// Fewest entries a split covers: below that, the combine step and the
// partial results cost more than the parallelism gains (D = 128: two steps
// of the kernel's 32 rows).
constexpr int64_t kMinSplit = 64;
// Most splits per (row, KV head), which bounds the scratch buffers.
constexpr int64_t kMaxSplits = 256;
#if defined(PCACHE_PAGED_KERNELS)
static_assert(kMaxSplits == cuda::kMaxSplits, "the kernels' bound");
static_assert(kMaxPrefixParts == cuda::kMaxPrefixParts, "the kernels' bound");
#endif
// CTAs to aim for, per multiprocessor: several resident at once hide the
// slot indirection's latency, and more evens out the last wave. One row
// (batch-1 decode) does best with fewer and longer splits: on the H200, 32
// layers over 4k / 16k entries took 0.47 / 1.13 ms in 32 splits (about 2
// CTAs per multiprocessor) against 0.60 / 1.27-1.37 in 64 to 128
// (paged_attention_bench, PCACHE_BENCH_RUNS=1); aiming at 1 gives 17, which
// graphs round up to 32. Halving the splits of 16 and 64 rows as well made
// those decode steps slower (TPOT 8.05 against 7.02 ms at 16 requests).
constexpr int64_t kCtasPerMultiprocessor = 8;
constexpr int64_t kCtasPerMultiprocessorOneRow = 1;

int32_t to_int32(int64_t v, const char* what) {
  TORCH_CHECK(v >= 0 && v <= std::numeric_limits<int32_t>::max(), "paged attention: ", what, " ",
              v, " does not fit 32 bits");
  return static_cast<int32_t>(v);
}

}  // namespace

int64_t multiprocessors(at::Device device) {
#if defined(PCACHE_PAGED_KERNELS)
  if (device.is_cuda()) {
    const c10::DeviceIndex index = device.has_index() ? device.index() : c10::cuda::current_device();
    return at::cuda::getDeviceProperties(index)->multiProcessorCount;
  }
#endif
  return 1;
}

bool paged_attention_available(at::Device device, at::ScalarType dtype, int64_t head_dim,
                               int64_t group) {
#if defined(PCACHE_PAGED_KERNELS)
  return device.is_cuda() && (dtype == at::kBFloat16 || dtype == at::kHalf) &&
         cuda::paged_attention_supported(static_cast<int>(head_dim), static_cast<int>(group));
#else
  (void)device, (void)dtype, (void)head_dim, (void)group;
  return false;
#endif
}

void PagedAttentionPlan::add(const std::vector<int64_t>& slots,
                             const std::vector<int64_t>& positions, int64_t q_row, int64_t n) {
  TORCH_CHECK(!uploaded_, "paged attention: add() after upload()");
  const int64_t s = static_cast<int64_t>(slots.size());
  TORCH_CHECK(n >= 1 && n <= s, "paged attention: ", n, " new entries of ", s);
  TORCH_CHECK(!window_ || static_cast<int64_t>(positions.size()) == s,
              "paged attention: a window needs every entry's position");
  // Ranges checked once per sequence, then copied narrowed: this runs over
  // every entry of every sequence at every step.
  auto [lo, hi] = std::minmax_element(slots.begin(), slots.end());
  to_int32(*lo, "slot"), to_int32(*hi, "slot");
  const int32_t first = to_int32(static_cast<int64_t>(slots_.size()) + s, "entry count") -
                        static_cast<int32_t>(s);
  slots_.insert(slots_.end(), slots.begin(), slots.end());
  if (window_) {
    auto [p_lo, p_hi] = std::minmax_element(positions.begin(), positions.end());
    to_int32(*p_lo, "position"), to_int32(*p_hi, "position");
    key_pos_.insert(key_pos_.end(), positions.begin(), positions.end());
  }
  to_int32(q_row + n, "query row");
  for (int64_t i = 0; i < n; ++i) {
    rows_.push_back(static_cast<int32_t>(q_row + i));
    rows_.push_back(first);
    rows_.push_back(static_cast<int32_t>(s - n + i + 1));
  }
  max_count_ = std::max(max_count_, s);
}

int64_t PagedAttentionPlan::splits(at::Device device, int64_t num_kv_heads) const {
  const int64_t ctas = std::max<int64_t>(rows(), 1) * num_kv_heads;
  const int64_t per_sm = rows() == 1 ? kCtasPerMultiprocessorOneRow : kCtasPerMultiprocessor;
  const int64_t wanted = (per_sm * multiprocessors(device) + ctas - 1) / ctas;
  return std::clamp<int64_t>(std::min(wanted, (max_count_ + kMinSplit - 1) / kMinSplit), 1,
                             kMaxSplits);
}

void PagedAttentionPlan::upload(at::Device device, int64_t num_heads, int64_t num_kv_heads,
                                int64_t head_dim, bool with_prefix) {
  TORCH_CHECK(!empty(), "paged attention: an empty plan");
  TORCH_CHECK(!uploaded_ && !device_buffer_.defined(),
              "paged attention: the plan is uploaded already");
  allocate(device, rows(), entries(), splits(device, num_kv_heads), num_heads, num_kv_heads,
           head_dim, with_prefix);
  refill(*this);
}

void PagedAttentionPlan::allocate(at::Device device, int64_t max_rows, int64_t max_entries,
                                  int64_t splits, int64_t num_heads, int64_t num_kv_heads,
                                  int64_t head_dim, bool with_prefix) {
  TORCH_CHECK(max_rows >= 1 && max_entries >= 1 && splits >= 1 && splits <= kMaxSplits,
              "paged attention: buffers for ", max_rows, " rows, ", max_entries, " entries, ",
              splits, " splits");
  const int64_t positions = window_ ? max_entries : 0;
  device_buffer_ = at::empty({3 * max_rows + max_entries + positions},
                             at::TensorOptions().dtype(at::kInt).device(device));
  device_rows_ = device_buffer_.narrow(0, 0, 3 * max_rows);
  device_slots_ = device_buffer_.narrow(0, 3 * max_rows, max_entries);
  device_key_pos_ = window_ ? device_buffer_.narrow(0, 3 * max_rows + max_entries, max_entries)
                            : at::Tensor();
  launch_rows_ = max_rows;
  max_entries_ = max_entries;
  splits_ = splits;
  num_heads_ = num_heads;
  num_kv_heads_ = num_kv_heads;
  head_dim_ = head_dim;
  with_prefix_ = with_prefix;
  partial_out_ = partial_ml_ = at::Tensor();
  if (splits_ > 1 || with_prefix) {
    auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);
    partial_out_ = at::empty({max_rows, num_heads, splits_, head_dim}, f32);
    partial_ml_ = at::empty({max_rows, num_heads, splits_, 2}, f32);
  }
}

bool PagedAttentionPlan::refill(const PagedAttentionPlan& from) {
  TORCH_CHECK(device_buffer_.defined(), "paged attention: refill() before allocate()");
  TORCH_CHECK(from.window_ == window_, "paged attention: refill() from a plan of another window");
  const int64_t e = from.entries(), r = from.rows();
  if (r > launch_rows_ || e > max_entries_) return false;
  // Rows (padding rows zero: count 0), slots and positions: one pinned
  // buffer, copied asynchronously (the caching host allocator keeps it until
  // the copy is done).
  const bool pinned = device_buffer_.is_cuda();
  const int64_t head = 3 * launch_rows_ + e;
  at::Tensor host = at::zeros({head + static_cast<int64_t>(from.key_pos_.size())},
                              at::TensorOptions().dtype(at::kInt).pinned_memory(pinned));
  int32_t* out = host.data_ptr<int32_t>();
  std::copy(from.rows_.begin(), from.rows_.end(), out);
  std::copy(from.slots_.begin(), from.slots_.end(), out + 3 * launch_rows_);
  std::copy(from.key_pos_.begin(), from.key_pos_.end(), out + head);
  device_buffer_.narrow(0, 0, head).copy_(host.narrow(0, 0, head), /*non_blocking=*/true);
  if (window_) {
    device_key_pos_.narrow(0, 0, e).copy_(host.narrow(0, head, e), /*non_blocking=*/true);
  }
  uploaded_ = true;
  return true;
}

#if defined(PCACHE_PAGED_KERNELS)
// The kernels' launch for paged_attention() and its prefix forms: `prefix`
// sets the parameters' prefix (after the plan's checks).
struct PagedAttentionLaunch {
  static void run(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                  const PagedAttentionPlan& plan, double scale, at::Tensor& out,
                  const std::function<void(cuda::PagedAttentionParams&)>& prefix);
};

void PagedAttentionLaunch::run(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const PagedAttentionPlan& plan, double scale, at::Tensor& out,
                               const std::function<void(cuda::PagedAttentionParams&)>& prefix) {
  const int64_t h = plan.num_heads_, h_kv = plan.num_kv_heads_, d = plan.head_dim_;
  TORCH_CHECK(plan.uploaded_ && plan.device_rows_.device() == q.device(),
              "paged attention: the plan is not uploaded to ", q.device());
  TORCH_CHECK(q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf,
              "paged attention: q is ", q.scalar_type(), " (expected bfloat16 or float16)");
  TORCH_CHECK(q.dim() == 3 && q.size(1) == h && q.size(2) == d && q.stride(2) == 1 &&
                  q.stride(0) % 8 == 0 && q.stride(1) % 8 == 0,
              "paged attention: q ", q.sizes(), " strides ", q.strides(), " for ", h, " heads of ",
              d);
  TORCH_CHECK(out.sizes() == q.sizes() && out.is_contiguous() && out.scalar_type() == q.scalar_type(),
              "paged attention: out ", out.sizes(), " for q ", q.sizes());
  for (const at::Tensor* t : {&k, &v}) {
    TORCH_CHECK(t->dim() == 3 && t->size(1) == h_kv && t->size(2) == d && t->is_contiguous() &&
                    t->scalar_type() == q.scalar_type() && t->device() == q.device(),
                "paged attention: pool layer ", t->sizes(), " for ", h_kv, " KV heads of ", d);
  }
  for (const at::Tensor* t : {&q, &k, &v, static_cast<const at::Tensor*>(&out)}) {
    TORCH_CHECK(reinterpret_cast<uintptr_t>(t->data_ptr()) % 16 == 0,
                "paged attention: a tensor is not 16-byte aligned");
  }
  cuda::PagedAttentionParams p;
  p.q = q.data_ptr();
  p.q_row_stride = q.stride(0);
  p.q_head_stride = q.stride(1);
  p.k = k.data_ptr();
  p.v = v.data_ptr();
  p.kv_row_stride = k.stride(0);
  p.kv_head_stride = k.stride(1);
  p.out = out.data_ptr();
  p.out_row_stride = out.stride(0);
  p.out_head_stride = out.stride(1);
  p.slots = plan.device_slots_.data_ptr<int32_t>();
  p.rows = plan.device_rows_.data_ptr<int32_t>();
  if (plan.window_) {
    p.key_pos = plan.device_key_pos_.data_ptr<int32_t>();
    p.window = to_int32(*plan.window_, "window");
    TORCH_CHECK(p.window > 0, "paged attention: window ", p.window);
  }
  p.num_rows = static_cast<int32_t>(plan.launch_rows_);
  p.num_heads = static_cast<int32_t>(h);
  p.num_kv_heads = static_cast<int32_t>(h_kv);
  p.head_dim = static_cast<int32_t>(d);
  p.num_splits = static_cast<int32_t>(plan.splits_);
  p.min_split = static_cast<int32_t>(kMinSplit);
  p.scale = static_cast<float>(scale);
  p.bf16 = q.scalar_type() == at::kBFloat16;
  if (plan.partial_out_.defined()) {
    p.partial_out = plan.partial_out_.data_ptr<float>();
    p.partial_ml = plan.partial_ml_.data_ptr<float>();
  }
  prefix(p);
  TORCH_CHECK(p.prefix_parts == 0 || plan.with_prefix_,
              "paged attention: a prefix for a plan not allocated with_prefix");
  c10::cuda::CUDAGuard guard(q.device());
  const cudaError_t err =
      cuda::launch_paged_attention(p, at::cuda::getCurrentCUDAStream(q.device().index()));
  TORCH_CHECK(err == cudaSuccess, "paged attention: ", cudaGetErrorString(err));
}
#endif

void paged_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const PagedAttentionPlan& plan, double scale, at::Tensor& out,
                     const at::Tensor& prefix_out, const at::Tensor& prefix_lse) {
#if defined(PCACHE_PAGED_KERNELS)
  PagedAttentionLaunch::run(q, k, v, plan, scale, out, [&](cuda::PagedAttentionParams& p) {
    if (!prefix_out.defined()) return;
    const int64_t h = p.num_heads, g = p.num_heads / p.num_kv_heads;
    TORCH_CHECK(prefix_out.sizes() == out.sizes() && prefix_out.strides() == out.strides() &&
                    prefix_out.scalar_type() == out.scalar_type() &&
                    prefix_out.device() == out.device(),
                "paged attention: prefix_out ", prefix_out.sizes(), " for out ", out.sizes());
    TORCH_CHECK(prefix_lse.dim() == 2 && prefix_lse.size(0) == out.size(0) &&
                    prefix_lse.size(1) == h && prefix_lse.is_contiguous() &&
                    prefix_lse.scalar_type() == at::kFloat,
                "paged attention: prefix_lse ", prefix_lse.sizes(), " for ", out.size(0),
                " rows of ", h, " heads");
    p.prefix_parts = 1;
    p.prefix_out = prefix_out.data_ptr();
    p.prefix_lse = prefix_lse.data_ptr<float>();
    // out's layout: row r, head kv G + g.
    p.prefix_out_strides = {0, g * out.stride(1), out.stride(1), out.stride(0)};
    p.prefix_lse_strides = {0, g, 1, h};
  });
#else
  (void)q, (void)k, (void)v, (void)plan, (void)scale, (void)out, (void)prefix_out, (void)prefix_lse;
  TORCH_CHECK(false, "paged attention: this build has no CUDA kernels");
#endif
}

void paged_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const PagedAttentionPlan& plan, double scale, at::Tensor& out,
                     const PrefixParts& prefix) {
#if defined(PCACHE_PAGED_KERNELS)
  PagedAttentionLaunch::run(q, k, v, plan, scale, out, [&](cuda::PagedAttentionParams& p) {
    const int64_t h_kv = p.num_kv_heads, g = p.num_heads / p.num_kv_heads, rows = out.size(0) * g;
    const int64_t parts = prefix.out.dim() == 4 ? prefix.out.size(0) : 0;
    TORCH_CHECK(parts >= 1 && parts <= kMaxPrefixParts && prefix.out.size(1) == h_kv &&
                    prefix.out.size(2) == rows && prefix.out.size(3) == p.head_dim &&
                    prefix.out.stride(3) == 1 && prefix.out.scalar_type() == out.scalar_type() &&
                    prefix.out.device() == out.device(),
                "paged attention: prefix parts ", prefix.out.sizes(), " for ", out.size(0), " rows of ",
                p.num_heads, " heads");
    TORCH_CHECK(prefix.lse.sizes() == prefix.out.sizes().slice(0, 3) && prefix.lse.is_contiguous() &&
                    prefix.lse.scalar_type() == at::kFloat,
                "paged attention: prefix parts' lse ", prefix.lse.sizes(), " for ", prefix.out.sizes());
    p.prefix_parts = static_cast<int32_t>(parts);
    p.prefix_out = prefix.out.data_ptr();
    p.prefix_lse = prefix.lse.data_ptr<float>();
    p.prefix_out_strides = {prefix.out.stride(0), prefix.out.stride(1), prefix.out.stride(2),
                            g * prefix.out.stride(2)};
    p.prefix_lse_strides = {h_kv * rows, rows, 1, g};
  });
#else
  (void)q, (void)k, (void)v, (void)plan, (void)scale, (void)out, (void)prefix;
  TORCH_CHECK(false, "paged attention: this build has no CUDA kernels");
#endif
}

}  // namespace pcache
