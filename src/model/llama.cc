#include "model/llama.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "model/fused_ops.h"
#include "model/paged_attention.h"

#if __has_include(<torch/version.h>)
#include <torch/version.h>
#endif
#if defined(TORCH_VERSION_MAJOR)
#define PCACHE_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||         \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))
#else
#define PCACHE_TORCH_AT_LEAST(major, minor) 0
#endif

namespace pcache {
namespace {

at::Tensor rotate_half(const at::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return at::cat({-halves[1], halves[0]}, -1);
}

// HF's rotary frequencies, including the linear and llama3 rescalings.
at::Tensor rope_inv_freq(const ModelConfig& c) {
  at::Tensor exponent =
      at::arange(0, c.head_dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(c.head_dim);
  at::Tensor inv_freq = 1.0 / at::pow(c.rope_theta, exponent);  // [D / 2] float32
  const RopeScaling& r = c.rope_scaling;
  switch (r.kind) {
    case RopeScaling::Kind::kDefault: return inv_freq;
    case RopeScaling::Kind::kLinear: return inv_freq / r.factor;
    case RopeScaling::Kind::kLlama3: {
      const double low_wavelen = r.original_max_position_embeddings / r.low_freq_factor;
      const double high_wavelen = r.original_max_position_embeddings / r.high_freq_factor;
      at::Tensor wavelen = 2 * M_PI / inv_freq;
      at::Tensor scaled = at::where(wavelen > low_wavelen, inv_freq / r.factor, inv_freq);
      at::Tensor smooth = (r.original_max_position_embeddings / wavelen - r.low_freq_factor) /
                          (r.high_freq_factor - r.low_freq_factor);
      at::Tensor smoothed = (1 - smooth) * scaled / r.factor + smooth * scaled;
      at::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
      return at::where(medium, smoothed, scaled);
    }
  }
  return inv_freq;
}

// Runs shorter than this go to the paged kernels with the rest: flash
// attention's launch and merge cost more than reading them through slots.
constexpr int64_t kMinInPlaceRun = 256;

std::string sizes_string(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

std::optional<InPlaceSplit> split_in_place(const std::vector<int64_t>& slots,
                                           const std::vector<int64_t>& positions, int64_t n,
                                           int64_t run_multiple) {
  const int64_t s = static_cast<int64_t>(slots.size()), context = s - n;
  InPlaceSplit split;
  int64_t covered = 0;
  for (int64_t e = 0; e < context;) {
    int64_t len = 1;
    while (e + len < context && slots[e + len] == slots[e] + len) ++len;
    const int64_t kept = len >= kMinInPlaceRun ? len / run_multiple * run_multiple : 0;
    if (kept > 0) {
      split.runs.emplace_back(slots[e], kept);
      covered += kept;
    }
    split.rest_slots.insert(split.rest_slots.end(), slots.begin() + e + kept, slots.begin() + e + len);
    split.rest_positions.insert(split.rest_positions.end(), positions.begin() + e + kept,
                                positions.begin() + e + len);
    e += len;
  }
  if (split.runs.empty() || n * (s - covered) > kPagedKernelMaxWork) return std::nullopt;
  split.rest_slots.insert(split.rest_slots.end(), slots.begin() + context, slots.end());
  split.rest_positions.insert(split.rest_positions.end(), positions.begin() + context,
                              positions.end());
  return split;
}

StatusOr<at::ScalarType> parse_dtype(const std::string& name) {
  if (name == "float32" || name == "fp32") return at::kFloat;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  if (name == "float16" || name == "fp16") return at::kHalf;
  return Status::invalid_argument("dtype \"" + name + "\" (expected float32, bfloat16 or float16)");
}

StatusOr<at::Device> parse_device(const std::string& name) {
  try {
    at::Device device(name);
    if (device.is_cuda() && !at::hasCUDA()) {
      return Status::unsupported("device \"" + name +
                                 "\": this build of libtorch has no CUDA or no GPU is visible");
    }
    if (!device.is_cpu() && !device.is_cuda()) {
      return Status::unsupported("device \"" + name + "\" (expected cpu, cuda or cuda:N)");
    }
    return device;
  } catch (const c10::Error&) {
    return Status::invalid_argument("device \"" + name + "\" (expected cpu, cuda or cuda:N)");
  }
}

LayerProjectionNames layer_projection_names(int64_t layer) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  return {p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight",
          p + "self_attn.o_proj.weight", p + "mlp.gate_proj.weight",    p + "mlp.up_proj.weight",
          p + "mlp.down_proj.weight"};
}

bool is_projection_weight(const std::string& name, const ModelConfig& config) {
  if (name == "lm_head.weight") return !config.tie_word_embeddings;
  for (int64_t i = 0; i < config.num_layers; ++i) {
    const LayerProjectionNames n = layer_projection_names(i);
    for (const std::string* w : {&n.q, &n.k, &n.v, &n.o, &n.gate, &n.up, &n.down}) {
      if (name == *w) return true;
    }
  }
  return false;
}

LlamaModel::LlamaModel(const ModelConfig& config, at::ScalarType dtype, at::Device device)
    : config_(config), dtype_(dtype), device_(device) {}

StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::load(const Checkpoint& ck, at::ScalarType dtype,
                                                       at::Device device, WeightFormat weights) {
  const ModelConfig& c = ck.config();
  std::unique_ptr<LlamaModel> m(new LlamaModel(c, dtype, device));
  // Projections stored as int8 stay so, and the others follow them.
  if (const WeightFormat stored = ck.stored_weights(); is_int8_format(stored)) weights = stored;
  m->weights_ = weights;
#if PCACHE_TORCH_AT_LEAST(2, 4)
  // cuDNN attention builds a plan per sequence length (tens of ms), and decode
  // changes the length every step: keep to the flash and memory-efficient kernels.
  if (device.is_cuda()) at::globalContext().setSDPUseCuDNN(false);
#endif
  const int64_t hidden = c.hidden_size, ffn = c.intermediate_size, d = c.head_dim;
  const int64_t q_out = c.num_heads * d, kv_out = c.num_kv_heads * d;
  auto load = [&](const std::string& name, std::vector<int64_t> shape) {
    return ck.load(name, shape, dtype, device);
  };
  // A projection of the checkpoint's weights `parts` ([out, in] each, stacked
  // by rows: q, k and v, or gate and up), as it is read fastest here (see
  // Projection). Quantizing the parts one by one gives the rows that
  // quantizing them stacked would, with less memory at once; each is
  // quantized from its float32 values, as quantize_checkpoint does, whatever
  // the model dtype.
  using Part = std::pair<std::string, std::vector<int64_t>>;
  auto projection = [&](const std::vector<Part>& parts, bool transposed_on_gpu,
                        at::Tensor bias) -> StatusOr<Projection> {
    const bool int8 = is_int8_format(weights);
    std::vector<Int8Weight> quantized;
    std::vector<at::Tensor> floating;
    for (const auto& [name, shape] : parts) {
      if (int8 && ck.is_int8(name)) {
        PCACHE_ASSIGN_OR_RETURN(Int8Weight q, ck.load_int8(name, shape, device));
        quantized.push_back(std::move(q));
        continue;
      }
      if (int8) {
        PCACHE_ASSIGN_OR_RETURN(at::Tensor w, ck.load(name, shape, at::kFloat, device));
        quantized.push_back(quantize_rows_int8(w, weights));
      } else {
        PCACHE_ASSIGN_OR_RETURN(at::Tensor w, load(name, shape));
        floating.push_back(std::move(w));
      }
    }
    auto stacked = [](std::vector<at::Tensor> t) { return t.size() == 1 ? t[0] : at::cat(t, 0); };
    Projection p;
    p.bias = std::move(bias);
    if (int8) {
      Int8Weight q;
      std::vector<at::Tensor> values, scales, offsets;
      const bool any_offset = std::any_of(quantized.begin(), quantized.end(),
                                          [](const Int8Weight& part) { return part.offset.defined(); });
      for (Int8Weight& part : quantized) {
        values.push_back(part.values);
        scales.push_back(part.scale);
        // A symmetric part beside zero-point ones: an offset of zero.
        if (any_offset) offsets.push_back(part.offset.defined() ? part.offset : at::zeros_like(part.scale));
      }
      q.values = stacked(values);
      q.scale = stacked(scales);
      if (any_offset) q.offset = stacked(offsets);
      if (device.is_cpu() && dtype != at::kFloat) {
        // The CPU's int8 product computes in float32 (int8_linear): another
        // dtype gets the weight dequantized once, as every call would.
        p.w = dequantize_rows_int8(q, dtype);
      } else {
        p.w = std::move(q.values);
        p.scale = std::move(q.scale);
        p.offset = std::move(q.offset);
      }
      return p;
    }
    at::Tensor w = stacked(floating);
    if (transposed_on_gpu && device.is_cuda()) {
      p.w_t = w.t().contiguous();
    } else {
      p.w = std::move(w);
    }
    return p;
  };
  try {
    PCACHE_ASSIGN_OR_RETURN(m->embed_, load("model.embed_tokens.weight", {c.vocab_size, hidden}));
    for (int64_t i = 0; i < c.num_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      Layer l;
      PCACHE_ASSIGN_OR_RETURN(l.attn_norm, load(p + "input_layernorm.weight", {hidden}));
      PCACHE_ASSIGN_OR_RETURN(l.mlp_norm, load(p + "post_attention_layernorm.weight", {hidden}));
      at::Tensor bqkv, bo;
      if (c.attention_bias) {
        PCACHE_ASSIGN_OR_RETURN(at::Tensor bq, load(p + "self_attn.q_proj.bias", {q_out}));
        PCACHE_ASSIGN_OR_RETURN(at::Tensor bk, load(p + "self_attn.k_proj.bias", {kv_out}));
        PCACHE_ASSIGN_OR_RETURN(at::Tensor bv, load(p + "self_attn.v_proj.bias", {kv_out}));
        bqkv = at::cat({bq, bk, bv}, 0);
        if (ck.has(p + "self_attn.o_proj.bias")) {
          PCACHE_ASSIGN_OR_RETURN(bo, load(p + "self_attn.o_proj.bias", {hidden}));
        }
      }
      const LayerProjectionNames names = layer_projection_names(i);
      PCACHE_ASSIGN_OR_RETURN(l.qkv, projection({{names.q, {q_out, hidden}},
                                                 {names.k, {kv_out, hidden}},
                                                 {names.v, {kv_out, hidden}}},
                                                false, bqkv));
      PCACHE_ASSIGN_OR_RETURN(l.o, projection({{names.o, {hidden, q_out}}}, false, bo));
      at::Tensor b_gate_up, b_down;
      if (c.mlp_bias) {
        PCACHE_ASSIGN_OR_RETURN(at::Tensor bg, load(p + "mlp.gate_proj.bias", {ffn}));
        PCACHE_ASSIGN_OR_RETURN(at::Tensor bu, load(p + "mlp.up_proj.bias", {ffn}));
        PCACHE_ASSIGN_OR_RETURN(b_down, load(p + "mlp.down_proj.bias", {hidden}));
        b_gate_up = at::cat({bg, bu}, 0);
      }
      PCACHE_ASSIGN_OR_RETURN(l.gate_up, projection({{names.gate, {ffn, hidden}},
                                                     {names.up, {ffn, hidden}}},
                                                    false, b_gate_up));
      PCACHE_ASSIGN_OR_RETURN(l.down, projection({{names.down, {hidden, ffn}}}, true, b_down));
      m->layers_.push_back(std::move(l));
    }
    PCACHE_ASSIGN_OR_RETURN(m->norm_, load("model.norm.weight", {hidden}));
    if (c.tie_word_embeddings) {
      m->lm_head_.w = m->embed_;
    } else {
      PCACHE_ASSIGN_OR_RETURN(m->lm_head_,
                              projection({{"lm_head.weight", {c.vocab_size, hidden}}}, true, at::Tensor()));
    }
    m->inv_freq_ = rope_inv_freq(c).to(device);
  } catch (const c10::Error& e) {
    return Status::resource_exhausted(ck.dir() +
                                      ": loading weights: " + e.what_without_backtrace());
  }
  return m;
}

KVCache LlamaModel::new_cache(int64_t batch) const {
  return KVCache(config_.num_layers, batch, config_.num_kv_heads, config_.head_dim, dtype_,
                 device_);
}

// x [..., in] through a projection: the GEMV kernel for the few rows of a
// decode step, an int8 weight's tensor-core kernel up to 128 rows, else
// int8_linear for int8 weights (on the CPU its own product, int8 kept) or
// libtorch.
at::Tensor LlamaModel::project(const at::Tensor& x, const Projection& p) const {
  const bool int8_rows = p.scale.defined() && int8_matmul_applies(x, p.w);
  if (p.w.defined() && (gemv_applies(x, p.w) || int8_rows)) {
    at::Tensor y = int8_rows ? int8_matmul(x, p.w, p.scale, p.bias) : gemv(x, p.w, p.bias, p.scale);
    if (!p.offset.defined()) return y;
    return (y.to(at::kFloat) + zero_point_term(x, p.offset)).to(y.scalar_type());
  }
  if (p.scale.defined()) {
    return int8_linear(x, {p.w, p.scale, p.offset}, p.bias);
  }
  if (p.w.defined() && x.is_cpu() && x.numel() == x.size(-1)) {
    // One row on the CPU: a matrix-vector product. As a matrix product of
    // one row, OpenBLAS packs the whole weight first (sgemm_incopy: 30% of
    // a demo-model decode step, measured with perf).
    std::vector<int64_t> shape = x.sizes().vec();
    shape.back() = p.w.size(0);
    at::Tensor y = at::mv(p.w, x.reshape({-1})).view(shape);
    return p.bias.defined() ? y + p.bias : y;
  }
  if (p.w.defined()) return at::linear(x, p.w, p.bias);
  at::Tensor y = at::matmul(x, p.w_t);
  return p.bias.defined() ? y + p.bias : y;
}

// x: [..., hidden]. Normalised in float32 and scaled in the model dtype, as HF does.
at::Tensor LlamaModel::rms_norm(const at::Tensor& x, const at::Tensor& weight) const {
#if PCACHE_TORCH_AT_LEAST(2, 8)
  // One fused kernel on the GPU instead of eight (it rounds once, after the scale).
  if (x.is_cuda()) return at::rms_norm(x, {x.size(-1)}, weight, config_.rms_norm_eps);
#endif
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + config_.rms_norm_eps);
  return weight * normed.to(x.scalar_type());
}

// positions: [B, T] -> cos, sin: [B, T, 1, D] in the model dtype.
std::pair<at::Tensor, at::Tensor> LlamaModel::rope_cos_sin(
    const at::Tensor& positions, const std::optional<at::ScalarType>& freq_dtype) const {
  at::Tensor inv_freq = inv_freq_;  // [D/2] float32
  if (freq_dtype) inv_freq = inv_freq.to(*freq_dtype).to(at::kFloat);
  at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;  // [B, T, D/2]
  at::Tensor angles = at::cat({freqs, freqs}, -1).unsqueeze(2);          // [B, T, 1, D]
  return {angles.cos().to(dtype_), angles.sin().to(dtype_)};
}

// [B, T, S] bool (true = attend), or undefined for grouped_attention's causal default.
at::Tensor LlamaModel::attention_mask(const at::Tensor& positions, const KVCache& cache, int64_t t,
                                      const ForwardOptions& options) const {
  const int64_t b = positions.size(0), past = cache.length(), s = past + t;
  at::Tensor m;
  if (options.mask) {
    m = options.mask->to(device_, at::kBool);
    if (m.dim() == 2) m = m.unsqueeze(0);
    m = m.expand({b, t, s});
  } else {
    if (!config_.sliding_window) return at::Tensor();
    m = causal_mask(t, s, device_).expand({b, t, s});
  }
  if (config_.sliding_window) {  // applies to a given mask too
    // Mistral's window, by position distance: keys more than `window` back are hidden.
    at::Tensor key_pos = at::cat({cache.positions(), positions}, 1);  // [B, S]
    at::Tensor dist = positions.unsqueeze(2) - key_pos.unsqueeze(1);  // [B, T, S]
    m = m.logical_and(dist < *config_.sliding_window);
  }
  return m;
}

at::Tensor causal_mask(int64_t t, int64_t s, at::Device device) {
  auto idx = at::TensorOptions().dtype(at::kLong).device(device);
  at::Tensor q_idx = at::arange(s - t, s, idx).unsqueeze(1);  // [T, 1]
  at::Tensor k_idx = at::arange(0, s, idx).unsqueeze(0);      // [1, S]
  return (k_idx <= q_idx).unsqueeze(0);                       // [1, T, S]
}

bool flash_varlen_available(at::Device device, at::ScalarType dtype) {
#if PCACHE_TORCH_AT_LEAST(2, 5)
  return device.is_cuda() && (dtype == at::kBFloat16 || dtype == at::kHalf);
#else
  (void)device;
  (void)dtype;
  return false;
#endif
}

at::Tensor flash_varlen(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                        const at::Tensor& cu_q, const at::Tensor& cu_k, int64_t max_q, int64_t max_k,
                        double scale, bool causal, at::Tensor* lse) {
#if PCACHE_TORCH_AT_LEAST(2, 5)
  // q [Nq, H, D], k/v [Nk, Hkv, D] (grouped heads read as they are), cu_* int32 [B + 1].
  auto result = at::_flash_attention_forward(q, k, v, cu_q, cu_k, max_q, max_k, 0.0, causal,
                                             /*return_debug_mask=*/false, scale);
  if (lse) {
    // [H, Nq], or [B, H, max_q] in some versions: as [Nq, H] either way for one sequence.
    *lse = std::get<1>(result).reshape({q.size(1), -1}).narrow(1, 0, q.size(0)).t().contiguous();
  }
  return std::get<0>(result);
#else
  (void)k, (void)v, (void)cu_q, (void)cu_k, (void)max_q, (void)max_k, (void)scale, (void)causal,
      (void)lse;
  TORCH_CHECK(false, "flash_varlen needs libtorch >= 2.5");
  return q;
#endif
}

namespace {

// flash_with_lse without packing.
std::pair<at::Tensor, at::Tensor> flash_over_all(const at::Tensor& q, const at::Tensor& k,
                                                 const at::Tensor& v, double scale) {
#if PCACHE_TORCH_AT_LEAST(2, 5)
  // The batched flash kernel, not varlen: it splits long contexts over the
  // GPU (varlen gives one CTA per head: 32 of them over 16k entries).
  auto result = at::_scaled_dot_product_flash_attention(
      q.transpose(0, 1).unsqueeze(0), k.transpose(0, 1).unsqueeze(0),
      v.transpose(0, 1).unsqueeze(0), 0.0, /*is_causal=*/false, false, scale);  // [1, H, n, D], [1, H, n]
  return {std::get<0>(result)[0].transpose(0, 1).contiguous(),
          std::get<1>(result)[0].narrow(1, 0, q.size(0)).t().contiguous()};
#else
  (void)k, (void)v, (void)scale;
  TORCH_CHECK(false, "flash_with_lse needs libtorch >= 2.5");
  return {q, q};
#endif
}

}  // namespace

std::pair<at::Tensor, at::Tensor> flash_with_lse(const at::Tensor& q, const at::Tensor& k,
                                                 const at::Tensor& v, double scale, bool pack_groups) {
  const int64_t n = q.size(0), h = q.size(1), d = q.size(2), h_kv = k.size(1), g = h / h_kv;
  if (!pack_groups || g == 1) return flash_over_all(q, k, v, scale);
  // No mask, so a KV head's G query heads can be G times the rows of one
  // head: [n, Hkv, G, D] -> [n, G, Hkv, D] = [n G, Hkv, D].
  at::Tensor packed = q.reshape({n, h_kv, g, d}).transpose(1, 2).reshape({n * g, h_kv, d});
  auto [out, lse] = flash_over_all(packed, k, v, scale);  // [n G, Hkv, D], [n G, Hkv]
  return {out.view({n, g, h_kv, d}).transpose(1, 2).reshape({n, h, d}),
          lse.view({n, g, h_kv}).transpose(1, 2).reshape({n, h})};
}

PrefixParts cudnn_run_parts(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            double scale, int64_t parts) {
#if PCACHE_TORCH_AT_LEAST(2, 5)
  const int64_t n = q.size(0), h = q.size(1), d = q.size(2), h_kv = k.size(1), g = h / h_kv;
  const int64_t len = k.size(0) / parts, rows = n * g;
  TORCH_CHECK(parts >= 1 && len * parts == k.size(0), "cudnn_run_parts: ", k.size(0),
              " entries in ", parts, " equal parts");
  // [n, H, D] -> [P, Hkv, n G, D]: row t G + g of KV head kv is query t's head kv G + g.
  at::Tensor packed = q.reshape({n, h_kv, g, d}).permute({1, 0, 2, 3}).reshape({1, h_kv, rows, d})
                          .expand({parts, h_kv, rows, d}).contiguous();
  at::Tensor kb = k.view({parts, len, h_kv, d}).transpose(1, 2);  // [P, Hkv, L, D]
  at::Tensor vb = v.view({parts, len, h_kv, d}).transpose(1, 2);
  auto result = at::_scaled_dot_product_cudnn_attention(packed, kb, vb, std::nullopt,
                                                        /*compute_log_sumexp=*/true, 0.0,
                                                        /*is_causal=*/false, false, scale);
  return {std::get<0>(result), std::get<1>(result).reshape({parts, h_kv, rows})};  // [P, Hkv, n G, D], [P, Hkv, n G]
#else
  (void)q, (void)k, (void)v, (void)scale, (void)parts;
  TORCH_CHECK(false, "cudnn_run_parts needs libtorch >= 2.5");
  return {};
#endif
}

at::Tensor grouped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& mask_in, double scale) {
  const int64_t b = q.size(0), h = q.size(1), t = q.size(2), d = q.size(3);
  const int64_t h_kv = k.size(1), s = k.size(2), g = h / h_kv;
#if PCACHE_TORCH_AT_LEAST(2, 5)
  // Flash attention aligns causality at the end when T < S, which is exactly
  // "the whole cache, then the new tokens causally", and reads grouped K/V
  // heads as they are: no mask, no copies, at any context length.
  const bool half = q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf;
  // A long prompt from scratch: cuDNN's attention outruns flash attention on
  // Hopper (what transformers' sdpa picks there too). It builds a plan per
  // shape, which is why it is kept to this case; it wants equal head counts.
  static std::atomic<bool> cudnn_works{true};
  if (!mask_in.defined() && q.is_cuda() && half && t == s && t >= 4096 && cudnn_works) {
    try {
      at::Tensor k_full = g > 1 ? k.repeat_interleave(g, 1) : k;
      at::Tensor v_full = g > 1 ? v.repeat_interleave(g, 1) : v;
      return std::get<0>(at::_scaled_dot_product_cudnn_attention(
          q, k_full, v_full, std::nullopt, false, 0.0, /*is_causal=*/true, false, scale));
    } catch (const c10::Error&) {
      cudnn_works = false;  // not in this build or not for this model: flash from now on
    }
  }
  if (!mask_in.defined() && q.is_cuda() && half && d % 8 == 0 && d <= 256) {
    return std::get<0>(
        at::_scaled_dot_product_flash_attention(q, k, v, 0.0, /*is_causal=*/true, false, scale));
  }
#endif
  // Query heads that share a KV head are stacked, so K and V are never repeated.
  at::Tensor qg = q.reshape({b, h_kv, g * t, d});                       // [B, Hkv, G T, D]
  at::Tensor scores = at::matmul(qg, k.transpose(-2, -1)).mul_(scale);  // [B, Hkv, G T, S]
  scores = scores.view({b, h_kv, g, t, s});
  const float minus_inf = -std::numeric_limits<float>::infinity();
  if (mask_in.defined()) {
    scores.masked_fill_(mask_in.logical_not().view({mask_in.size(0), 1, 1, t, s}), minus_inf);
  } else if (t > 1) {
    // Causal at the end: only the last T keys (the new tokens) hide any.
    at::Tensor later = causal_mask(t, t, q.device()).logical_not().view({1, 1, 1, t, t});
    scores.narrow(-1, s - t, t).masked_fill_(later, minus_inf);
  }
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  at::Tensor out = at::matmul(probs.view({b, h_kv, g * t, s}), v);  // [B, Hkv, G T, D]
  return out.view({b, h, t, d});
}

double LlamaModel::attention_scale() const {
  return 1.0 / std::sqrt(static_cast<double>(config_.head_dim));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> LlamaModel::project_qkv(
    int64_t layer, const at::Tensor& normed, const at::Tensor& cos, const at::Tensor& sin) const {
  const ModelConfig& c = config_;
  const Layer& l = layers_[layer];
  const int64_t b = normed.size(0), t = normed.size(1), h = c.num_heads, h_kv = c.num_kv_heads,
                d = c.head_dim;
  at::Tensor qkv = project(normed, l.qkv);  // [B, T, (H + 2 Hkv) D]
  // RoPE on q and k at once: they are adjacent in qkv.
  at::Tensor qk = qkv.narrow(-1, 0, (h + h_kv) * d).view({b, t, h + h_kv, d});
  qk = at::addcmul(qk * cos, rotate_half(qk), sin);      // [B, T, H + Hkv, D]
  at::Tensor q = qk.narrow(2, 0, h).transpose(1, 2);     // q: [B, H, T, D]
  at::Tensor k = qk.narrow(2, h, h_kv).transpose(1, 2);  // k: [B, Hkv, T, D]
  at::Tensor v = qkv.narrow(-1, (h + h_kv) * d, h_kv * d).view({b, t, h_kv, d}).transpose(1, 2);
  return {q, k, v};
}

std::pair<at::Tensor, at::Tensor> LlamaModel::add_norm(const at::Tensor& x, const at::Tensor& delta,
                                                       const at::Tensor& weight) const {
  if (fused_ops_available(x.device(), x.scalar_type()) && x.size(-1) % 8 == 0) {
    return add_rms_norm(x, delta, weight, config_.rms_norm_eps);
  }
  at::Tensor sum = delta.defined() ? x + delta : x;
  return {sum, rms_norm(sum, weight)};
}

std::pair<at::Tensor, at::Tensor> LlamaModel::layer_output(int64_t layer, const at::Tensor& x,
                                                           const at::Tensor& attn) const {
  const Layer& l = layers_[layer];
  auto [mid, mid_normed] = add_norm(x, project(attn, l.o), l.mlp_norm);  // [B, T, hidden]
  at::Tensor act;  // [B, T, F]
  if (l.gate_up.w.defined() && !l.gate_up.offset.defined() && gemv_applies(mid_normed, l.gate_up.w)) {
    // A decode step's few rows: the SiLU in the projection's kernel.
    act = gemv_silu_mul(mid_normed, l.gate_up.w, l.gate_up.bias, l.gate_up.scale);
  } else if (at::Tensor gate_up = project(mid_normed, l.gate_up);  // [B, T, 2F]
             fused_ops_available(gate_up.device(), gate_up.scalar_type())) {
    act = silu_mul(gate_up);
  } else {
    auto halves = gate_up.chunk(2, -1);
    act = at::silu(halves[0]) * halves[1];
  }
  const at::Tensor& next_norm = layer + 1 < config_.num_layers ? layers_[layer + 1].attn_norm : norm_;
  return add_norm(mid, project(act, l.down), next_norm);
}

at::Tensor LlamaModel::logits(const at::Tensor& normed) const {
  return project(normed, lm_head_).to(at::kFloat);  // [B, T, V]
}

at::Tensor LlamaModel::forward_impl(const at::Tensor& tokens, const at::Tensor& positions,
                                    KVCache& cache, const Pass& pass) const {
  const int64_t t = tokens.size(1);
  auto [cos, sin] = rope_cos_sin(positions, pass.rope_freq_dtype);  // [B, T, 1, D]
  cache.reserve(t);

  const int64_t b = tokens.size(0);
  // The residual stream x and its norm for the next step (each layer's
  // output is normed for the next layer, or the head, with its residual add).
  auto [x, normed] = add_norm(at::embedding(embed_, tokens), at::Tensor(),
                              layers_[0].attn_norm);  // [B, T, hidden] each
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    auto [q, k, v] = project_qkv(i, normed, cos, sin);
    auto [k_all, v_all] = cache.update(i, k, v);  // [B, Hkv, S, D]
    at::Tensor attn = grouped_attention(q, k_all, v_all, pass.mask, attention_scale());  // [B, H, T, D]
    std::tie(x, normed) = layer_output(i, x, attn.transpose(1, 2).reshape({b, t, -1}));
  }
  cache.commit(positions);
  if (pass.last_logits_only) normed = normed.narrow(1, t - 1, 1);
  return logits(normed);  // [B, T | 1, V]
}

Status LlamaModel::check_paged(const std::vector<PagedInput>& inputs,
                               const at::Tensor& fed_tokens) const {
  if (inputs.empty()) return Status::invalid_argument("forward_paged: no inputs");
  const bool fed = fed_tokens.defined();
  // device_ may name no index ("cuda"), where a tensor on it always has one ("cuda:0").
  const bool fed_on_device = fed && fed_tokens.device().type() == device_.type() &&
                             (!device_.has_index() || fed_tokens.device().index() == device_.index());
  if (fed && (fed_tokens.dim() != 1 || fed_tokens.size(0) != static_cast<int64_t>(inputs.size()) ||
              fed_tokens.scalar_type() != at::kLong || !fed_on_device)) {
    return Status::invalid_argument("forward_paged: fed tokens must be int64 [" +
                                    std::to_string(inputs.size()) + "] on " + device_.str() +
                                    ", one per input");
  }
  for (size_t j = 0; j < inputs.size(); ++j) {
    const PagedSequence* seq = inputs[j].sequence;
    const int64_t n = inputs[j].new_entries, len = seq ? seq->length() : 0;
    if (!seq || n < 1 || n > len || &seq->pool() != &inputs[0].sequence->pool()) {
      return Status::invalid_argument("forward_paged: input " + std::to_string(j) + " computes " +
                                      std::to_string(n) + " of its " + std::to_string(len) +
                                      " entries (expected 1 to all, in one pool)");
    }
    if (fed && (n != 1 || inputs[j].all_logits)) {
      return Status::invalid_argument("forward_paged: input " + std::to_string(j) + " computes " +
                                      std::to_string(n) +
                                      " entries; fed tokens are for decode steps (1 each)");
    }
    // Fed ids are an argmax over the vocabulary: in range by construction.
    for (int64_t i = len - n; i < len - (fed ? 1 : 0); ++i) {
      const int id = seq->tokens()[i];
      if (id < 0 || id >= config_.vocab_size) {
        return Status::invalid_argument("forward_paged: token id " + std::to_string(id) +
                                        " is outside the vocabulary [0, " +
                                        std::to_string(config_.vocab_size) + ")");
      }
    }
  }
  return Status::ok_status();
}

at::Tensor LlamaModel::paged_pass(const at::Tensor& tokens, const at::Tensor& positions,
                                  const at::Tensor& write_slots, const at::Tensor& logit_rows,
                                  BlockPool& pool, const PagedAttend& attend) const {
  const int64_t n = tokens.size(0), h = config_.num_heads, d = config_.head_dim;
  const bool fused = fused_ops_available(device_, dtype_);
  auto [cos, sin] = rope_cos_sin(positions.view({1, n}), std::nullopt);  // [1, N, 1, D]
  auto [x, normed] = add_norm(at::embedding(embed_, tokens.view({1, n})), at::Tensor(),
                              layers_[0].attn_norm);  // [1, N, hidden] each
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    at::Tensor q;  // [N, H, D] contiguous
    if (fused) {
      const Layer& l = layers_[i];
      at::Tensor qkv = project(normed, l.qkv);  // [1, N, (H + 2 Hkv) D]
      q = rope_and_store(qkv[0], cos.view({n, d}), sin.view({n, d}), write_slots, pool.keys(i),
                         pool.values(i), h);
    } else {
      auto [qh, k, v] = project_qkv(i, normed, cos, sin);  // q [1, H, N, D]; k, v [1, Hkv, N, D]
      pool.keys(i).index_copy_(0, write_slots, k[0].transpose(0, 1));  // pool rows [N, Hkv, D]
      pool.values(i).index_copy_(0, write_slots, v[0].transpose(0, 1));
      q = qh[0].transpose(0, 1).contiguous();
    }
    at::Tensor attn = attend(i, q);  // [N, H, D]
    std::tie(x, normed) = layer_output(i, x, attn.reshape({1, n, h * d}));  // [1, N, hidden] each
  }
  if (logit_rows.defined()) normed = normed.index_select(1, logit_rows);  // [1, R, hidden]
  return logits(normed)[0];                                                 // [R, V]
}

StatusOr<at::Tensor> LlamaModel::forward_paged(const std::vector<PagedInput>& inputs,
                                               const at::Tensor& fed_tokens) const {
  PCACHE_RETURN_IF_ERROR(check_paged(inputs, fed_tokens));
  std::vector<int64_t> tokens, positions, write_slots, logit_rows;
  for (const PagedInput& in : inputs) {
    const PagedSequence& seq = *in.sequence;
    const int64_t n = in.new_entries, len = seq.length();
    const int64_t first = static_cast<int64_t>(tokens.size());
    for (int64_t i = len - n; i < len; ++i) {
      tokens.push_back(seq.tokens()[i]);
      positions.push_back(seq.positions()[i]);
    }
    const std::vector<int64_t> slots = seq.slots_from(len - n);
    write_slots.insert(write_slots.end(), slots.begin(), slots.end());
    if (in.all_logits) {
      for (int64_t r = 0; r < n; ++r) logit_rows.push_back(first + r);
    } else {
      logit_rows.push_back(first + n - 1);
    }
  }
  try {
    BlockPool& pool = inputs[0].sequence->pool();
    const int64_t total = static_cast<int64_t>(tokens.size());
    auto on_device = [&](const std::vector<int64_t>& v) {
      return at::tensor(v, at::kLong).to(device_);
    };
    // Attention reads each sequence's entries through its slots, by one of:
    // - the paged kernels (CUDA, model/paged_attention.h): decode steps and
    //   short extends of every sequence in one launch per layer, over the
    //   pool in place;
    // - varlen flash (CUDA without the kernels, 4 sequences or more): all
    //   entries gathered into one buffer per layer, one flash attention;
    // - per sequence, over its gathered entries: grouped_attention (flash on
    //   CUDA, with a mask for a sliding window). So does the CPU.
    const int64_t h = config_.num_heads, h_kv = config_.num_kv_heads, d = config_.head_dim;
    // Varlen flash does not split long contexts across the GPU; for a few
    // sequences the per-sequence flash kernel (which does) is faster
    // (H200: 32 new tokens over 16k entries, 26.7 ms varlen vs 15.7 ms).
    constexpr size_t kVarlenMinSequences = 4;
    const bool kernels = paged_attention_available(device_, dtype_, d, h / h_kv);
    const bool varlen = !kernels && flash_varlen_available(device_, dtype_) &&
                        !config_.sliding_window && inputs.size() >= kVarlenMinSequences;
    PagedAttentionPlan plan(config_.sliding_window);
    struct Gathered {
      int64_t offset, n;  // its new tokens' rows
      at::Tensor slots;   // [S] int64
      at::Tensor mask;    // [1, n, S] bool with a sliding window, else undefined
    };
    std::vector<Gathered> gathered;
    // An extend over a long context whose entries lie mostly in runs of
    // consecutive pool rows (modules, a prefix: blocks allocated together):
    // flash attention reads each run in place, and the paged kernels the
    // rest with the runs' result merged in, as cascade attention merges a
    // shared prefix. No gather: 32 new tokens over a 16k-token module copied
    // 4 GB per forward that way. Sequences over the same runs (requests on
    // one module) share one flash call per run; all share one kernel launch.
    using Runs = std::vector<std::pair<int64_t, int64_t>>;  // (first pool row, entries), in order
    struct RunGroup {
      Runs runs;
      std::vector<int64_t> rows;  // the new tokens' rows of every sequence over them
      at::Tensor rows_dev;        // int64, or undefined when rows are one range
    };
    std::vector<RunGroup> run_groups;
    struct Rest {
      std::vector<int64_t> slots, positions;  // the entries outside the runs
      int64_t offset, n;
    };
    std::vector<Rest> rests;
    PagedAttentionPlan in_place_plan;  // the rests, with the runs as prefix
    const bool runs_in_place = kernels && flash_varlen_available(device_, dtype_) &&
                               !config_.sliding_window && d % 8 == 0 && d <= 256;
    std::vector<int64_t> all_slots, cu_q = {0}, cu_k = {0};
    int64_t max_q = 0, max_k = 0, offset = 0;
    for (const PagedInput& in : inputs) {
      const PagedSequence& seq = *in.sequence;
      const int64_t n = in.new_entries, s = seq.length();
      const std::vector<int64_t> slots = seq.slots();
      std::optional<InPlaceSplit> split;
      if (kernels && (n == 1 || n * s <= kPagedKernelMaxWork)) {
        plan.add(slots, seq.positions(), offset, n);
      } else if (runs_in_place && (split = split_in_place(slots, seq.positions(), n))) {
        rests.push_back({std::move(split->rest_slots), std::move(split->rest_positions), offset, n});
        auto group = std::find_if(run_groups.begin(), run_groups.end(),
                                  [&](const RunGroup& g) { return g.runs == split->runs; });
        if (group == run_groups.end()) {
          group = run_groups.insert(run_groups.end(), RunGroup{std::move(split->runs), {}, {}});
        }
        for (int64_t r = 0; r < n; ++r) group->rows.push_back(offset + r);
      } else if (varlen) {
        all_slots.insert(all_slots.end(), slots.begin(), slots.end());
        cu_q.push_back(cu_q.back() + n);
        cu_k.push_back(cu_k.back() + s);
        max_q = std::max(max_q, n);
        max_k = std::max(max_k, s);
      } else {
        Gathered g{offset, n, on_device(slots), at::Tensor()};
        if (config_.sliding_window) {
          at::Tensor key_pos = on_device(seq.positions());  // [S]
          at::Tensor dist = key_pos.narrow(0, s - n, n).unsqueeze(1) - key_pos.unsqueeze(0);  // [n, S]
          g.mask = causal_mask(n, s, device_).logical_and(dist.unsqueeze(0) < *config_.sliding_window);
        }
        gathered.push_back(std::move(g));
      }
      offset += n;
    }
    if (!plan.empty()) plan.upload(device_, h, h_kv, d);
    for (RunGroup& g : run_groups) {
      if (g.rows.back() - g.rows.front() + 1 != static_cast<int64_t>(g.rows.size())) {
        g.rows_dev = on_device(g.rows);
      }
    }
    // One group of one run over one range of rows (a single prompt's
    // prefill): flash's output is the prefix as it is, for q's and attn's
    // rows of that range. Each copy and allocation saved is a launch of an
    // eager prefill, which launches are what bound it (H200: ~70 us a layer
    // for 32 new tokens, against ~15 us of GPU work).
    const bool direct = run_groups.size() == 1 && !run_groups[0].rows_dev.defined() &&
                        run_groups[0].runs.size() == 1;
    const int64_t in_place_base = direct ? run_groups[0].rows.front() : 0;
    for (const Rest& r : rests) in_place_plan.add(r.slots, r.positions, r.offset - in_place_base, r.n);
    if (!in_place_plan.empty()) in_place_plan.upload(device_, h, h_kv, d, /*with_prefix=*/true);
    at::Tensor all_gather, cu_q_dev, cu_k_dev;
    if (varlen) {
      all_gather = on_device(all_slots);                        // [sum S]
      cu_q_dev = on_device(cu_q).to(at::kInt);                  // [B + 1]
      cu_k_dev = on_device(cu_k).to(at::kInt);                  // [B + 1]
    }
    auto attend = [&](int64_t i, const at::Tensor& q) {  // q [N, H, D] -> [N, H, D]
      if (varlen) {
        at::Tensor ks = pool.keys(i).index_select(0, all_gather);    // [sum S, Hkv, D]
        at::Tensor vs = pool.values(i).index_select(0, all_gather);  // [sum S, Hkv, D]
        return flash_varlen(q, ks, vs, cu_q_dev, cu_k_dev, max_q, max_k, attention_scale());
      }
      at::Tensor attn = at::empty({total, h, d}, q.options());
      if (!plan.empty()) paged_attention(q, pool.keys(i), pool.values(i), plan, attention_scale(), attn);
      if (direct) {
        const RunGroup& g = run_groups[0];
        const auto [first, entries] = g.runs[0];
        const int64_t m = static_cast<int64_t>(g.rows.size());
        at::Tensor qg = q.narrow(0, in_place_base, m), out = attn.narrow(0, in_place_base, m);
        auto [prefix, lse] = flash_with_lse(qg, pool.keys(i).narrow(0, first, entries),
                                            pool.values(i).narrow(0, first, entries), attention_scale());
        paged_attention(qg, pool.keys(i), pool.values(i), in_place_plan, attention_scale(), out,
                        prefix, lse);
      } else if (!in_place_plan.empty()) {
        // Each group's rows over its runs (merged when several), into one
        // prefix for all the plan's rows.
        at::Tensor prefix = at::empty_like(q), prefix_lse;  // [N, H, D], [N, H] float32
        prefix_lse = at::empty({total, h}, q.options().dtype(at::kFloat));
        for (const RunGroup& g : run_groups) {
          const int64_t first_row = g.rows.front(), m = static_cast<int64_t>(g.rows.size());
          at::Tensor qg = g.rows_dev.defined() ? q.index_select(0, g.rows_dev) : q.narrow(0, first_row, m);
          std::vector<at::Tensor> outs, lses;  // [m, H, D], [m, H] per run
          for (const auto& [first, entries] : g.runs) {
            auto [out, lse] = flash_with_lse(qg, pool.keys(i).narrow(0, first, entries),
                                             pool.values(i).narrow(0, first, entries),
                                             attention_scale());
            outs.push_back(out);
            lses.push_back(lse);
          }
          at::Tensor out = outs[0], lse = lses[0];
          if (outs.size() > 1) {  // the runs' softmaxes merged: weights exp(lse_r - lse)
            at::Tensor all_lse = at::stack(lses);                    // [R, m, H]
            lse = at::logsumexp(all_lse, 0);                         // [m, H]
            at::Tensor w = (all_lse - lse).exp_().unsqueeze(-1);     // [R, m, H, 1]
            out = (at::stack(outs).to(at::kFloat) * w).sum(0).to(q.scalar_type());  // [m, H, D]
          }
          if (g.rows_dev.defined()) {
            prefix.index_copy_(0, g.rows_dev, out);
            prefix_lse.index_copy_(0, g.rows_dev, lse);
          } else {
            prefix.narrow(0, first_row, m).copy_(out);
            prefix_lse.narrow(0, first_row, m).copy_(lse);
          }
        }
        paged_attention(q, pool.keys(i), pool.values(i), in_place_plan, attention_scale(), attn,
                        prefix, prefix_lse);
      }
      for (const Gathered& g : gathered) {
        at::Tensor kj = pool.keys(i).index_select(0, g.slots).transpose(0, 1).unsqueeze(0);    // [1, Hkv, S, D]
        at::Tensor vj = pool.values(i).index_select(0, g.slots).transpose(0, 1).unsqueeze(0);  // [1, Hkv, S, D]
        at::Tensor qj = q.narrow(0, g.offset, g.n).transpose(0, 1).unsqueeze(0);              // [1, H, n, D]
        at::Tensor out = grouped_attention(qj, kj, vj, g.mask, attention_scale());             // [1, H, n, D]
        attn.narrow(0, g.offset, g.n).copy_(out[0].transpose(0, 1));
      }
      return attn;
    };
    return paged_pass(fed_tokens.defined() ? fed_tokens : on_device(tokens), on_device(positions),
                      on_device(write_slots), on_device(logit_rows), pool, attend);
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    if (what.find("out of memory") != std::string::npos)
      return Status::resource_exhausted("forward_paged: " + what);
    return Status::internal("forward_paged: " + what);
  }
}

StatusOr<at::Tensor> LlamaModel::forward_last(const std::vector<int64_t>& tokens,
                                              const std::vector<int64_t>& positions,
                                              KVCache& cache) const {
  ForwardOptions last;
  last.last_logits_only = true;
  PCACHE_ASSIGN_OR_RETURN(at::Tensor logits,
                          forward(at::tensor(tokens, at::kLong).unsqueeze(0),
                                  at::tensor(positions, at::kLong).unsqueeze(0), cache, last));
  return logits[0][0];
}

StatusOr<at::Tensor> LlamaModel::forward(const at::Tensor& tokens, const at::Tensor& positions,
                                         KVCache& cache, const ForwardOptions& options) const {
  if (tokens.dim() != 2 || tokens.size(1) == 0 || !positions.sizes().equals(tokens.sizes())) {
    return Status::invalid_argument("forward: tokens " + sizes_string(tokens) + " and positions " +
                                    sizes_string(positions) + " must both be [B, T] with T > 0");
  }
  if (tokens.size(0) != cache.batch()) {
    return Status::invalid_argument("forward: batch " + std::to_string(tokens.size(0)) +
                                    " differs from the cache's " + std::to_string(cache.batch()));
  }
  if (options.mask) {
    const at::Tensor& m = *options.mask;
    const int64_t t = tokens.size(1), s = cache.length() + t;
    bool ok = (m.dim() == 2 && m.size(0) == t && m.size(1) == s) ||
              (m.dim() == 3 && (m.size(0) == 1 || m.size(0) == tokens.size(0)) && m.size(1) == t &&
               m.size(2) == s);
    if (!ok) {
      return Status::invalid_argument("forward: mask " + sizes_string(m) +
                                      " must be [T, S] or [B, T, S] with T = " + std::to_string(t) +
                                      ", S = " + std::to_string(s));
    }
  }
  try {
    // Host-side ids are checked here; ids already on a GPU are the caller's to check,
    // since reading them back would stall the device.
    if (tokens.is_cpu()) {
      auto lo = tokens.min().item<int64_t>(), hi = tokens.max().item<int64_t>();
      if (lo < 0 || hi >= config_.vocab_size) {
        return Status::invalid_argument("forward: token id " + std::to_string(lo < 0 ? lo : hi) +
                                        " is outside the vocabulary [0, " +
                                        std::to_string(config_.vocab_size) + ")");
      }
    }
    Pass pass;
    at::Tensor on_device = positions.to(device_, at::kLong);  // [B, T]
    pass.mask = attention_mask(on_device, cache, tokens.size(1), options);
    pass.last_logits_only = options.last_logits_only;
    pass.rope_freq_dtype = options.rope_freq_dtype;
    return forward_impl(tokens.to(device_, at::kLong), on_device, cache, pass);
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    if (what.find("out of memory") != std::string::npos)
      return Status::resource_exhausted("forward: " + what);
    return Status::internal("forward: " + what);
  }
}

}  // namespace pcache
