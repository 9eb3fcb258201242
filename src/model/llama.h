// LlamaModel: the Llama / Mistral decoder (RMSNorm, RoPE from explicit
// position ids, GQA attention, SwiGLU MLP), read top to bottom in llama.cc.
//
// The one primitive every later layer builds on: forward() runs tokens at any
// position ids, attending to whatever a KVCache holds (and causally among
// themselves) or to exactly what a mask allows, and appends their K/V to it.
// Weights are immutable after load(); forward() may run from several threads
// at once on distinct caches.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "model/checkpoint.h"
#include "model/kv_cache.h"
#include "model/model_config.h"
#include "model/paged_attention.h"
#include "model/paged_sequence.h"
#include "model/weight_quant.h"
#include "pcache/status.h"

namespace pcache {

struct ForwardOptions {
  // [T, S] or [B, T, S] bool with S = cache.length() + T: true where query t
  // may attend to entry s (cache entries first, then the new tokens). When
  // absent, every new token sees the whole cache and the new tokens before it.
  std::optional<at::Tensor> mask;
  // Compute logits for the last token only (prefill before decoding).
  bool last_logits_only = false;
  // Round the RoPE frequencies to this dtype first. transformers computes them
  // in float32 when it loads a checkpoint, but a model cast in memory with
  // .to(dtype) carries them rounded; reference logits made that way need this
  // to be reproduced exactly. Unset for normal use.
  std::optional<at::ScalarType> rope_freq_dtype;
};

// One sequence's part of a paged forward: its last `new_entries` entries
// (added with PagedSequence::append) are computed. Their K/V are written at
// their slots, and they attend to every entry of the sequence before them
// and causally among themselves.
struct PagedInput {
  const PagedSequence* sequence = nullptr;
  int64_t new_entries = 0;
  bool all_logits = false;  // logits of every new entry; else of the last one only
};

// The checkpoint names of layer `layer`'s projection weights, as
// transformers' Llama-family models name them.
struct LayerProjectionNames {
  std::string q, k, v, o, gate, up, down;
};
LayerProjectionNames layer_projection_names(int64_t layer);

// Whether LlamaModel::load reads weight `name` as a projection (what
// `weights` int8 quantizes): a layer's q/k/v/o and gate/up/down, and an
// untied head.
bool is_projection_weight(const std::string& name, const ModelConfig& config);

class LlamaModel {
 public:
  // Loads and converts every weight. Errors come from Checkpoint::load (file
  // and tensor named) or ResourceExhausted when the device is full.
  // `weights`: kInt8 (kInt8ZeroPoint) quantizes every projection but a tied
  // head (which is the embedding) per output row as it loads
  // (model/weight_quant.h). A checkpoint with projections stored as int8
  // (quantize_checkpoint) loads them as they are, in their form whatever
  // `weights` says.
  static StatusOr<std::unique_ptr<LlamaModel>> load(const Checkpoint& checkpoint,
                                                    at::ScalarType dtype, at::Device device,
                                                    WeightFormat weights = WeightFormat::kModelDtype);
  WeightFormat weights() const { return weights_; }

  const ModelConfig& config() const { return config_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }

  KVCache new_cache(int64_t batch = 1) const;

  // tokens, positions: [B, T] int64 on any device. Appends T entries to
  // `cache` (unchanged on error) and returns float32 logits [B, T, V], or
  // [B, 1, V] with last_logits_only.
  // Errors: InvalidArgument (shapes, token id out of range), ResourceExhausted,
  // Internal (a libtorch failure, message included).
  StatusOr<at::Tensor> forward(const at::Tensor& tokens, const at::Tensor& positions,
                               KVCache& cache, const ForwardOptions& options = {}) const;

  // Runs the new entries of several sequences (all in one BlockPool) in one
  // forward: projections and MLP over all their tokens at once, attention per
  // sequence over its blocks. Returns float32 logits [R, V]: for each input
  // in order, a row per new entry (all_logits) or its last entry's row.
  // On error the new entries' slots may hold anything (the caller drops them).
  // `fed_tokens`, when defined: int64 [inputs.size()] on the model's device,
  // the ids of a decode step (every input computes its last entry alone)
  // that are not on the host yet: each sequence's last token is a
  // placeholder, read from here instead (the previous step's argmax).
  // Errors: InvalidArgument (no inputs, new_entries outside [1, length], a
  // token id outside the vocabulary, fed_tokens not as above),
  // ResourceExhausted, Internal.
  StatusOr<at::Tensor> forward_paged(const std::vector<PagedInput>& inputs,
                                     const at::Tensor& fed_tokens = at::Tensor()) const;

  // forward() of one row (batch 1) that returns the last token's float32
  // logits [V]: prefill and decode steps.
  StatusOr<at::Tensor> forward_last(const std::vector<int64_t>& tokens,
                                    const std::vector<int64_t>& positions, KVCache& cache) const;

  // InvalidArgument unless forward_paged() can run `inputs` (with `fed_tokens`).
  Status check_paged(const std::vector<PagedInput>& inputs,
                     const at::Tensor& fed_tokens = at::Tensor()) const;

  // The device side of forward_paged, for callers that capture it in a CUDA
  // graph (model/step_graphs.h). tokens, positions, write_slots: [N] int64
  // on the model's device; token t's K/V go to pool row write_slots[t] (a
  // negative slot writes nothing, where fused_ops_available()). attend(layer,
  // q) returns the attention [N, H, D] of q [N, H, D] (contiguous) over the
  // pool's layer `layer`. Returns float32 logits [N, V], or [R, V] of the
  // rows `logit_rows` ([R] int64) when it is defined. Throws c10::Error.
  using PagedAttend = std::function<at::Tensor(int64_t layer, const at::Tensor& q)>;
  at::Tensor paged_pass(const at::Tensor& tokens, const at::Tensor& positions,
                        const at::Tensor& write_slots, const at::Tensor& logit_rows,
                        BlockPool& pool, const PagedAttend& attend) const;
  double attention_scale() const;

 private:
  // A projection's weight as the device reads it fastest: [out, in] (`w`),
  // or transposed ([in, out], `w_t`: cuBLAS on a GPU reads o_proj,
  // down_proj and an untied head faster that way at tens of rows; elsewhere
  // [out, in] keeps CPU results equal batched and unbatched), or int8
  // [out, in] with a scale per output row (`--weights int8`).
  struct Projection {
    at::Tensor w;      // [out, in], model dtype or int8
    at::Tensor w_t;    // [in, out], model dtype
    at::Tensor scale;  // [out] float32 with an int8 w
    at::Tensor offset; // [out] float32 with an int8 w in the zero-point form
    at::Tensor bias;   // [out] or undefined
  };
  // x [..., in] -> [..., out].
  at::Tensor project(const at::Tensor& x, const Projection& p) const;
  struct Layer {
    at::Tensor attn_norm;  // [hidden]
    Projection qkv;        // [(H + 2 Hkv) D, hidden]: q, k, v projections fused
    Projection o;          // [hidden, H D]
    at::Tensor mlp_norm;   // [hidden]
    Projection gate_up;    // [2 F, hidden]: gate and up fused
    Projection down;       // [hidden, F]
  };

  LlamaModel(const ModelConfig& config, at::ScalarType dtype, at::Device device);
  // How one pass reads and writes the cache.
  struct Pass {
    at::Tensor mask;  // [B, T, S] bool, or undefined: every cached entry and causal
    bool last_logits_only = false;
    std::optional<at::ScalarType> rope_freq_dtype;
  };
  at::Tensor forward_impl(const at::Tensor& tokens, const at::Tensor& positions, KVCache& cache,
                          const Pass& pass) const;
  // Layer `layer` after attention: x [B, T, hidden] and attn [B, T, H D] ->
  // the next x and its norm for what follows (the next layer's attention
  // norm, or the final norm before the head), [B, T, hidden] each.
  std::pair<at::Tensor, at::Tensor> layer_output(int64_t layer, const at::Tensor& x,
                                                 const at::Tensor& attn) const;
  // {x + delta, rms_norm(x + delta, weight)} (delta undefined: x alone), in
  // one kernel where the fused ops run.
  std::pair<at::Tensor, at::Tensor> add_norm(const at::Tensor& x, const at::Tensor& delta,
                                             const at::Tensor& weight) const;
  // The final norm's output [B, T, hidden] -> float32 logits [B, T, V].
  at::Tensor logits(const at::Tensor& normed) const;
  // q, and k, v [B, Hkv, T, D] of layer `layer` from its normed input, with
  // RoPE applied.
  std::tuple<at::Tensor, at::Tensor, at::Tensor> project_qkv(int64_t layer, const at::Tensor& normed,
                                                             const at::Tensor& cos,
                                                             const at::Tensor& sin) const;
  at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight) const;
  std::pair<at::Tensor, at::Tensor> rope_cos_sin(
      const at::Tensor& positions, const std::optional<at::ScalarType>& freq_dtype) const;
  at::Tensor attention_mask(const at::Tensor& positions, const KVCache& cache, int64_t t,
                            const ForwardOptions& options) const;

  ModelConfig config_;
  at::ScalarType dtype_;
  at::Device device_;
  at::Tensor embed_;  // [V, hidden]
  std::vector<Layer> layers_;
  at::Tensor norm_;                 // [hidden]
  Projection lm_head_;              // [V, hidden]: the embedding when tied
  WeightFormat weights_ = WeightFormat::kModelDtype;
  at::Tensor inv_freq_;             // [D / 2] float32
};

// Scaled dot-product attention with grouped KV heads.
// q: [B, H, T, D]; k, v: [B, Hkv, S, D]; mask: [B, T, S] bool (true = attend),
// or undefined for causal aligned at the end: query t sees keys up to
// S - T + t (the whole cache, then the new tokens before it). Returns
// [B, H, T, D] (possibly a strided view).
at::Tensor grouped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& mask, double scale);

// [1, T, S] bool: query t (the last T of S) sees keys 0 .. S - T + t.
at::Tensor causal_mask(int64_t t, int64_t s, at::Device device);

// Flash attention of q [n, H, D] over every entry of k, v [S, Hkv, D] (no
// mask), where flash_varlen_available(): returns out [n, H, D] and each
// query's natural log-sum-exp of its scores, [n, H] float32. pack_groups:
// the query heads of a KV head go in as rows of one head (K/V read once per
// KV head, not once per query head), at the cost of two copies (worth it
// in a CUDA graph, where a copy costs no launch).
std::pair<at::Tensor, at::Tensor> flash_with_lse(const at::Tensor& q, const at::Tensor& k,
                                                 const at::Tensor& v, double scale,
                                                 bool pack_groups = false);

// Attention of q [n, H, D] over every entry of k, v [P L, Hkv, D] (no
// mask) by cuDNN, the entries cut into `parts` equal parts computed as a
// batch (cuDNN does not split one sequence over the GPU), with a KV head's
// query heads packed as rows; the parts are left for paged_attention() to
// merge. On Hopper this outruns flash_with_lse over long runs (H200,
// Mistral-7B heads, 32 layers, 32 new tokens over 16k entries: 1.02 ms in
// 16 parts against 1.42; paged_attention_bench). Throws c10::Error where
// cuDNN cannot run it (libtorch < 2.5, no cuDNN, a head size it lacks).
PrefixParts cudnn_run_parts(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            double scale, int64_t parts);

// The paged kernels give each new token its own CTAs, which read the
// sequence's K/V again (from L2 for neighbouring tokens): past about n * S =
// 32k (new tokens times entries), flash attention over the entries is faster
// (H200, Mistral-7B heads, 32 layers: 16 new tokens over 2k entries 1.8 ms
// against 2.5; 8 over 16k 5.8 ms against 3.8; docs/benchmarks.md, "Paged
// attention").
inline constexpr int64_t kPagedKernelMaxWork = 32768;

// An extend's context split for reading in place: runs of consecutive pool
// rows (modules, a prefix: blocks allocated together) that flash attention
// reads as they are, and the entries outside them (the new ones included,
// last), which the paged kernels read with the runs' result merged in.
struct InPlaceSplit {
  std::vector<std::pair<int64_t, int64_t>> runs;  // (first pool row, entries), in order
  std::vector<int64_t> rest_slots, rest_positions;
};
// The split of a sequence whose entries are at `slots` and `positions`, the
// last n of them new; none when it has no run or the rest is more than the
// kernels' share (n * rest > kPagedKernelMaxWork). Each run is cut to a
// multiple of `run_multiple` entries (for cudnn_run_parts), the entries cut
// off going to the rest.
std::optional<InPlaceSplit> split_in_place(const std::vector<int64_t>& slots,
                                           const std::vector<int64_t>& positions, int64_t n,
                                           int64_t run_multiple = 1);

// Whether flash_varlen runs here: CUDA, half precision, libtorch >= 2.5.
bool flash_varlen_available(at::Device device, at::ScalarType dtype);
// Flash attention over several sequences at once (libtorch's varlen flash
// kernel): q [Nq, H, D] and k, v [Nk, Hkv, D] are the sequences' rows one
// after another, cu_q and cu_k (int32 [B + 1]) where each begins; causal at
// each sequence's end, or every query sees every key of its sequence.
// Returns [Nq, H, D]; with `lse`, also each query's natural log-sum-exp of
// its scores, [Nq, H] float32.
at::Tensor flash_varlen(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                        const at::Tensor& cu_q, const at::Tensor& cu_k, int64_t max_q, int64_t max_k,
                        double scale, bool causal = true, at::Tensor* lse = nullptr);

// "float32" | "bfloat16" | "float16" (also "fp32", "bf16", "fp16").
StatusOr<at::ScalarType> parse_dtype(const std::string& name);
// "cpu" | "cuda" | "cuda:N"; Unsupported when CUDA is asked for but absent.
StatusOr<at::Device> parse_device(const std::string& name);

}  // namespace pcache
