// ModelConfig: the subset of a Hugging Face config.json that a Llama-family
// decoder needs, validated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pcache/status.h"

namespace pcache {

// How RoPE frequencies are derived from the base (HF "rope_type").
struct RopeScaling {
  enum class Kind { kDefault, kLinear, kLlama3 };
  Kind kind = Kind::kDefault;
  double factor = 1.0;
  // llama3 only.
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string architecture;  // "LlamaForCausalLM", "MistralForCausalLM" or "Qwen2ForCausalLM"
  std::string model_type;    // "llama", "mistral" or "qwen2" (q/k/v biases implied)
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;  // GQA: num_heads is a multiple of it
  int64_t head_dim = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  bool mlp_bias = false;
  int64_t max_position_embeddings = 0;
  std::optional<int64_t> sliding_window;  // Mistral v0.1; null on most checkpoints
  int bos_token_id = 1;
  std::vector<int> eos_token_ids = {2};
  std::string torch_dtype;  // as written in the file ("bfloat16", ...); may be empty

  // "llama: 32 layers, hidden 4096, heads 32/8 x 128, ffn 14336, vocab 32768"
  std::string summary() const;
};

// Parses config.json text; `source` names the file in error messages.
// Errors: Corruption (not JSON), InvalidArgument (missing or mistyped key,
// inconsistent shapes), Unsupported (architecture, activation, rope type).
StatusOr<ModelConfig> parse_model_config(const std::string& json_text, const std::string& source);
// config.json files are read up to this size (real ones are a few KB).
inline constexpr size_t kMaxConfigJsonBytes = 1u << 20;
// Shapes a config may give, far above any real model's (Llama 3.1 405B:
// hidden 16384, 126 layers, 128 heads, vocab 128256, context 131072).
inline constexpr int64_t kMaxVocabSize = 1 << 22;
inline constexpr int64_t kMaxHiddenSize = 1 << 16;
inline constexpr int64_t kMaxLayers = 1024;
inline constexpr int64_t kMaxHeads = 1024;
inline constexpr int64_t kMaxHeadDim = 1024;
inline constexpr int64_t kMaxContext = 1 << 24;
// The context a model is run with: max_position_embeddings, or kDefaultContext
// when the config does not say.
inline constexpr int64_t kDefaultContext = 1 << 15;
int64_t context_length(const ModelConfig& config);
// InvalidArgument, prefixed with `what`, unless a request whose prompt ends at
// position `prompt_end` (where the first new token goes) has room for
// `max_new_tokens` after it within the model's context. Every request checks
// it before anything is allocated.
Status check_context(const ModelConfig& config, const std::string& what, int64_t prompt_end,
                     int64_t max_new_tokens);
StatusOr<ModelConfig> load_model_config(const std::string& path);
// Adds the stop tokens of a generation_config.json (text; `source` names it)
// to config's eos_token_ids: Llama 3 instruct stops on <|eot_id|> (and
// <|eom_id|>) as well as the <|end_of_text|> of config.json. Errors:
// Corruption (not JSON), InvalidArgument (an id that is not one, or outside
// the vocabulary).
Status add_generation_config(const std::string& text, const std::string& source,
                             ModelConfig* config);

}  // namespace pcache
