#include "model/fused_ops.h"

#include <algorithm>
#include <cstdint>

#if defined(PCACHE_PAGED_KERNELS)
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "model/cuda/fused_ops_kernels.h"
#include "model/paged_attention.h"
#endif

namespace pcache {

bool fused_ops_available(at::Device device, at::ScalarType dtype) {
#if defined(PCACHE_PAGED_KERNELS)
  return device.is_cuda() && (dtype == at::kBFloat16 || dtype == at::kHalf);
#else
  (void)device, (void)dtype;
  return false;
#endif
}

#if defined(PCACHE_PAGED_KERNELS)
namespace {

void check_launch(cudaError_t err, const char* what) {
  TORCH_CHECK(err == cudaSuccess, what, ": ", cudaGetErrorString(err));
}

}  // namespace

at::Tensor rope_and_store(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                          const at::Tensor& slots, const at::Tensor& k_pool,
                          const at::Tensor& v_pool, int64_t num_heads) {
  TORCH_CHECK(k_pool.dim() == 3 && k_pool.is_contiguous() && v_pool.sizes() == k_pool.sizes() &&
                  v_pool.is_contiguous(),
              "rope_and_store: pool layers ", k_pool.sizes(), " and ", v_pool.sizes());
  const int64_t n = qkv.size(0), h_kv = k_pool.size(1), d = k_pool.size(2);
  TORCH_CHECK(qkv.dim() == 2 && qkv.size(1) == (num_heads + 2 * h_kv) * d && qkv.stride(1) == 1,
              "rope_and_store: qkv ", qkv.sizes(), " for ", num_heads, " + 2 x ", h_kv,
              " heads of ", d);
  for (const at::Tensor* t : {&cos, &sin}) {
    TORCH_CHECK(t->dim() == 2 && t->size(0) == n && t->size(1) == d && t->is_contiguous() &&
                    t->scalar_type() == qkv.scalar_type(),
                "rope_and_store: cos/sin ", t->sizes(), " for ", n, " tokens of ", d);
  }
  TORCH_CHECK(slots.dim() == 1 && slots.size(0) == n && slots.scalar_type() == at::kLong &&
                  slots.is_contiguous(),
              "rope_and_store: slots ", slots.sizes(), " for ", n, " tokens");
  TORCH_CHECK(k_pool.scalar_type() == qkv.scalar_type() && k_pool.device() == qkv.device(),
              "rope_and_store: the pool's dtype or device differs from qkv's");
  at::Tensor q = at::empty({n, num_heads, d}, qkv.options());
  cuda::RopeStoreParams p;
  p.qkv = qkv.data_ptr();
  p.qkv_row_stride = qkv.stride(0);
  p.cos = cos.data_ptr();
  p.sin = sin.data_ptr();
  p.slots = slots.data_ptr<int64_t>();
  p.q_out = q.data_ptr();
  p.k_pool = k_pool.data_ptr();
  p.v_pool = v_pool.data_ptr();
  p.n = static_cast<int32_t>(n);
  p.num_heads = static_cast<int32_t>(num_heads);
  p.num_kv_heads = static_cast<int32_t>(h_kv);
  p.head_dim = static_cast<int32_t>(d);
  p.bf16 = qkv.scalar_type() == at::kBFloat16;
  c10::cuda::CUDAGuard guard(qkv.device());
  check_launch(cuda::launch_rope_store(p, at::cuda::getCurrentCUDAStream(qkv.device().index())),
               "rope_and_store");
  return q;
}

std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& x_in, const at::Tensor& delta_in,
                                               const at::Tensor& weight, double eps) {
  const int64_t hidden = x_in.size(-1);
  TORCH_CHECK(hidden % 8 == 0 && weight.dim() == 1 && weight.size(0) == hidden &&
                  weight.scalar_type() == x_in.scalar_type() && weight.is_contiguous(),
              "add_rms_norm: x ", x_in.sizes(), " and weight ", weight.sizes());
  TORCH_CHECK(!delta_in.defined() ||
                  (delta_in.sizes() == x_in.sizes() && delta_in.scalar_type() == x_in.scalar_type()),
              "add_rms_norm: delta ", delta_in.sizes(), " for x ", x_in.sizes());
  const at::Tensor x = x_in.contiguous();
  const at::Tensor delta = delta_in.defined() ? delta_in.contiguous() : at::Tensor();
  at::Tensor sum = delta.defined() ? at::empty_like(x) : x;
  at::Tensor normed = at::empty_like(x);
  cuda::AddRmsNormParams p;
  p.x = x.data_ptr();
  p.delta = delta.defined() ? delta.data_ptr() : nullptr;
  p.weight = weight.data_ptr();
  p.sum = delta.defined() ? sum.data_ptr() : nullptr;
  p.normed = normed.data_ptr();
  p.rows = x.numel() / hidden;
  p.hidden = hidden;
  p.eps = static_cast<float>(eps);
  p.bf16 = x.scalar_type() == at::kBFloat16;
  if (p.rows == 0) return {sum, normed};
  c10::cuda::CUDAGuard guard(x.device());
  check_launch(cuda::launch_add_rms_norm(p, at::cuda::getCurrentCUDAStream(x.device().index())),
               "add_rms_norm");
  return {sum, normed};
}

at::Tensor silu_mul(const at::Tensor& gate_up) {
  TORCH_CHECK(gate_up.is_contiguous() && gate_up.size(-1) % 2 == 0, "silu_mul: gate_up ",
              gate_up.sizes());
  std::vector<int64_t> shape = gate_up.sizes().vec();
  const int64_t f = shape.back() / 2;
  shape.back() = f;
  at::Tensor out = at::empty(shape, gate_up.options());
  c10::cuda::CUDAGuard guard(gate_up.device());
  check_launch(cuda::launch_silu_mul(gate_up.data_ptr(), out.data_ptr(), gate_up.numel() / (2 * f),
                                     f, gate_up.scalar_type() == at::kBFloat16,
                                     at::cuda::getCurrentCUDAStream(gate_up.device().index())),
               "silu_mul");
  return out;
}

bool gemv_applies(const at::Tensor& x, const at::Tensor& w) {
  const bool int8 = w.scalar_type() == at::kChar;
  if (!fused_ops_available(x.device(), x.scalar_type()) ||
      (w.scalar_type() != x.scalar_type() && !int8) || w.dim() != 2 || !w.is_contiguous() ||
      x.dim() < 1 || x.size(-1) != w.size(1) || w.size(1) % (int8 ? 16 : 8) != 0 ||
      !x.is_contiguous()) {
    return false;
  }
  const int64_t rows = x.numel() / w.size(1);
  return rows >= 1 && rows <= cuda::kGemvMaxRows;
}

namespace {

// The epilogue's operands of a product with w [out, in] (gemv, int8_matmul):
// bias [out] in x's dtype or undefined; a float32 scale [out] with an int8
// w, none with another.
void check_bias_and_scale(const char* what, const at::Tensor& x, const at::Tensor& w,
                          const at::Tensor& bias, const at::Tensor& scale) {
  TORCH_CHECK(!bias.defined() || (bias.numel() == w.size(0) && bias.is_contiguous() &&
                                  bias.scalar_type() == x.scalar_type()),
              what, ": bias ", bias.sizes(), " for ", w.size(0), " outputs");
  const bool int8 = w.scalar_type() == at::kChar;
  TORCH_CHECK(int8 == scale.defined() &&
                  (!int8 || (scale.numel() == w.size(0) && scale.is_contiguous() &&
                             scale.scalar_type() == at::kFloat && scale.device() == w.device())),
              what, ": an int8 weight takes a float32 scale per output row, others none");
}

at::Tensor launch_gemv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias,
                       const at::Tensor& scale, bool silu) {
  TORCH_CHECK(gemv_applies(x, w), "gemv: x ", x.sizes(), " and w ", w.sizes(), " do not fit it");
  TORCH_CHECK(!silu || w.size(0) % 2 == 0, "gemv_silu_mul: w ", w.sizes(),
              " is not a gate and an up projection");
  check_bias_and_scale("gemv", x, w, bias, scale);
  const bool int8 = w.scalar_type() == at::kChar;
  const int64_t n = w.size(0), k = w.size(1), rows = x.numel() / k;
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = silu ? n / 2 : n;
  at::Tensor y = at::empty(shape, x.options());
  cuda::GemvParams p;
  p.x = x.data_ptr();
  p.x_stride = k;
  p.w = w.data_ptr();
  p.scale = int8 ? scale.data_ptr<float>() : nullptr;
  p.bias = bias.defined() ? bias.data_ptr() : nullptr;
  p.y = y.data_ptr();
  p.y_stride = shape.back();
  p.rows = static_cast<int>(rows);
  p.n = n;
  p.k = k;
  p.int8 = int8;
  p.silu_mul = silu;
  p.bf16 = x.scalar_type() == at::kBFloat16;
  c10::cuda::CUDAGuard guard(x.device());
  check_launch(cuda::launch_gemv(p, at::cuda::getCurrentCUDAStream(x.device().index())), "gemv");
  return y;
}

}  // namespace

bool int8_matmul_applies(const at::Tensor& x, const at::Tensor& w) {
  if (!fused_ops_available(x.device(), x.scalar_type()) || w.scalar_type() != at::kChar ||
      w.dim() != 2 || !w.is_contiguous() || w.device() != x.device() || x.dim() < 1 ||
      x.size(-1) != w.size(1) || w.size(1) % cuda::kInt8MatmulGrain != 0 || !x.is_contiguous() ||
      reinterpret_cast<uintptr_t>(x.data_ptr()) % 16 != 0) {
    return false;
  }
  const int64_t rows = x.numel() / w.size(1);
  return rows > cuda::kGemvMaxRows && rows <= cuda::kInt8MatmulMaxRows;
}

at::Tensor int8_matmul(const at::Tensor& x, const at::Tensor& w, const at::Tensor& scale,
                       const at::Tensor& bias) {
  TORCH_CHECK(int8_matmul_applies(x, w), "int8_matmul: x ", x.sizes(), " and w ", w.sizes(),
              " do not fit it");
  check_bias_and_scale("int8_matmul", x, w, bias, scale);  // w is int8: a scale is required
  const int64_t n = w.size(0), k = w.size(1), rows = x.numel() / k;
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = n;
  at::Tensor y = at::empty(shape, x.options());
  c10::cuda::CUDAGuard guard(x.device());
  cuda::Int8MatmulParams p;
  p.x = x.data_ptr();
  p.x_stride = k;
  p.w = w.data_ptr<int8_t>();
  p.scale = scale.data_ptr<float>();
  p.bias = bias.defined() ? bias.data_ptr() : nullptr;
  p.y = y.data_ptr();
  p.y_stride = n;
  p.rows = static_cast<int>(rows);
  p.n = n;
  p.k = k;
  p.splits = cuda::int8_matmul_splits(n, k, static_cast<int>(multiprocessors(x.device())));
  at::Tensor partial;
  if (p.splits > 1) {
    partial = at::empty({p.splits, std::min<int64_t>(rows, cuda::kInt8MatmulRowsPerPass), n}, x.options().dtype(at::kFloat));
    p.partial = partial.data_ptr<float>();
  }
  p.bf16 = x.scalar_type() == at::kBFloat16;
  check_launch(cuda::launch_int8_matmul(p, at::cuda::getCurrentCUDAStream(x.device().index())),
               "int8_matmul");
  return y;
}

at::Tensor gemv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias,
                const at::Tensor& scale) {
  return launch_gemv(x, w, bias, scale, /*silu=*/false);
}

at::Tensor gemv_silu_mul(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias,
                         const at::Tensor& scale) {
  return launch_gemv(x, w, bias, scale, /*silu=*/true);
}

#else

bool gemv_applies(const at::Tensor&, const at::Tensor&) { return false; }

bool int8_matmul_applies(const at::Tensor&, const at::Tensor&) { return false; }

at::Tensor int8_matmul(const at::Tensor& x, const at::Tensor&, const at::Tensor&, const at::Tensor&) {
  TORCH_CHECK(false, "int8_matmul: this build has no CUDA kernels");
  return x;
}

at::Tensor gemv(const at::Tensor& x, const at::Tensor&, const at::Tensor&, const at::Tensor&) {
  TORCH_CHECK(false, "gemv: this build has no CUDA kernels");
  return x;
}

at::Tensor gemv_silu_mul(const at::Tensor& x, const at::Tensor&, const at::Tensor&,
                         const at::Tensor&) {
  TORCH_CHECK(false, "gemv_silu_mul: this build has no CUDA kernels");
  return x;
}

at::Tensor rope_and_store(const at::Tensor& qkv, const at::Tensor&, const at::Tensor&,
                          const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t) {
  TORCH_CHECK(false, "rope_and_store: this build has no CUDA kernels");
  return qkv;
}

std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& x, const at::Tensor&,
                                               const at::Tensor&, double) {
  TORCH_CHECK(false, "add_rms_norm: this build has no CUDA kernels");
  return {x, x};
}

at::Tensor silu_mul(const at::Tensor& gate_up) {
  TORCH_CHECK(false, "silu_mul: this build has no CUDA kernels");
  return gate_up;
}

#endif

}  // namespace pcache
