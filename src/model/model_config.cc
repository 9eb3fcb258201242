#include "model/model_config.h"

#include <nlohmann/json.hpp>

#include "util/excerpt.h"
#include "util/file_util.h"
#include "util/json_util.h"

namespace pcache {
namespace {

using json = nlohmann::json;

// Reads key `key` of `obj` as T. Absent or null keys leave `out` unchanged
// unless `required`.
template <typename T>
Status read_key(const json& obj, const char* key, bool required, T* out, const std::string& src) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return Status::invalid_argument(src + ": missing key \"" + key + "\"");
    return Status::ok_status();
  }
  try {
    if constexpr (std::is_same_v<T, bool>) {
      if (!it->is_boolean()) throw std::runtime_error("not a boolean");
    } else if constexpr (std::is_integral_v<T>) {
      if (!it->is_number_integer()) throw std::runtime_error("not an integer");
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!it->is_number()) throw std::runtime_error("not a number");
    } else {
      if (!it->is_string()) throw std::runtime_error("not a string");
    }
    *out = it->get<T>();
  } catch (const std::exception& e) {
    return Status::invalid_argument(src + ": key \"" + key + "\" has value " + json_excerpt(*it) +
                                    ": " + e.what());
  }
  return Status::ok_status();
}

Status read_rope(const json& j, const std::string& src, ModelConfig* c) {
  // transformers 5 nests the base under rope_parameters; 4.x writes it at top
  // level with an optional rope_scaling object.
  const json* params = nullptr;
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_object()) {
      return Status::invalid_argument(src + ": key \"" + key + "\" has value " +
                                      json_excerpt(*it) + ": not an object");
    }
    params = &*it;  // rope_scaling, when both are given
  }
  PCACHE_RETURN_IF_ERROR(read_key(j, "rope_theta", false, &c->rope_theta, src));
  if (!params) return Status::ok_status();
  PCACHE_RETURN_IF_ERROR(read_key(*params, "rope_theta", false, &c->rope_theta, src));
  std::string type = "default";
  PCACHE_RETURN_IF_ERROR(read_key(*params, "rope_type", false, &type, src));
  if (params->contains("type") && !params->contains("rope_type")) {
    PCACHE_RETURN_IF_ERROR(read_key(*params, "type", false, &type, src));
  }
  RopeScaling& r = c->rope_scaling;
  if (type == "default") {
    r.kind = RopeScaling::Kind::kDefault;
  } else if (type == "linear") {
    r.kind = RopeScaling::Kind::kLinear;
    PCACHE_RETURN_IF_ERROR(read_key(*params, "factor", true, &r.factor, src));
  } else if (type == "llama3") {
    r.kind = RopeScaling::Kind::kLlama3;
    PCACHE_RETURN_IF_ERROR(read_key(*params, "factor", true, &r.factor, src));
    PCACHE_RETURN_IF_ERROR(read_key(*params, "low_freq_factor", true, &r.low_freq_factor, src));
    PCACHE_RETURN_IF_ERROR(read_key(*params, "high_freq_factor", true, &r.high_freq_factor, src));
    PCACHE_RETURN_IF_ERROR(read_key(*params, "original_max_position_embeddings", true,
                                    &r.original_max_position_embeddings, src));
  } else {
    return Status::unsupported(src + ": rope type " + excerpt(type) +
                               " (supported: default, linear, llama3)");
  }
  if (r.factor <= 0) return Status::invalid_argument(src + ": rope scaling factor must be > 0");
  return Status::ok_status();
}

// "eos_token_id": one id or a list; nothing when absent or null.
StatusOr<std::vector<int>> read_eos(const json& j, const std::string& src) {
  auto it = j.find("eos_token_id");
  if (it == j.end() || it->is_null()) return std::vector<int>{};
  if (it->is_number_integer()) return std::vector<int>{it->get<int>()};
  if (it->is_array() && !it->empty() &&
      std::all_of(it->begin(), it->end(), [](const json& v) { return v.is_number_integer(); })) {
    return it->get<std::vector<int>>();
  }
  return Status::invalid_argument(src + ": key \"eos_token_id\" has value " + json_excerpt(*it) +
                                  ": not an integer or a list of integers");
}

}  // namespace

std::string ModelConfig::summary() const {
  return model_type + ": " + std::to_string(num_layers) + " layers, hidden " +
         std::to_string(hidden_size) + ", heads " + std::to_string(num_heads) + "/" +
         std::to_string(num_kv_heads) + " x " + std::to_string(head_dim) + ", ffn " +
         std::to_string(intermediate_size) + ", vocab " + std::to_string(vocab_size);
}

StatusOr<ModelConfig> parse_model_config(const std::string& text, const std::string& src) {
  PCACHE_ASSIGN_OR_RETURN(json j, parse_json(text, src));
  if (!j.is_object()) return Status::corruption(src + ": top level is not a JSON object");

  ModelConfig c;
  if (auto it = j.find("architectures"); it != j.end() && !it->is_null()) {
    if (!it->is_array() || it->empty() || !(*it)[0].is_string()) {
      return Status::invalid_argument(src + ": key \"architectures\" has value " +
                                      json_excerpt(*it) + ": not a list of class names");
    }
    c.architecture = (*it)[0].get<std::string>();
  }
  PCACHE_RETURN_IF_ERROR(read_key(j, "model_type", true, &c.model_type, src));
  if (c.model_type != "llama" && c.model_type != "mistral" && c.model_type != "qwen2") {
    return Status::unsupported(src + ": model_type " + excerpt(c.model_type) +
                               " (supported: llama, mistral, qwen2)");
  }
  if (!c.architecture.empty() && c.architecture != "LlamaForCausalLM" &&
      c.architecture != "MistralForCausalLM" && c.architecture != "Qwen2ForCausalLM") {
    return Status::unsupported(src + ": architecture " + excerpt(c.architecture) +
                               " (supported: LlamaForCausalLM, MistralForCausalLM, "
                               "Qwen2ForCausalLM)");
  }
  std::string act = "silu";
  PCACHE_RETURN_IF_ERROR(read_key(j, "hidden_act", false, &act, src));
  if (act != "silu") return Status::unsupported(src + ": hidden_act " + excerpt(act) + " (only silu)");

  PCACHE_RETURN_IF_ERROR(read_key(j, "vocab_size", true, &c.vocab_size, src));
  PCACHE_RETURN_IF_ERROR(read_key(j, "hidden_size", true, &c.hidden_size, src));
  PCACHE_RETURN_IF_ERROR(read_key(j, "intermediate_size", true, &c.intermediate_size, src));
  PCACHE_RETURN_IF_ERROR(read_key(j, "num_hidden_layers", true, &c.num_layers, src));
  PCACHE_RETURN_IF_ERROR(read_key(j, "num_attention_heads", true, &c.num_heads, src));
  c.num_kv_heads = c.num_heads;
  PCACHE_RETURN_IF_ERROR(read_key(j, "num_key_value_heads", false, &c.num_kv_heads, src));
  PCACHE_RETURN_IF_ERROR(read_key(j, "head_dim", false, &c.head_dim, src));
  PCACHE_RETURN_IF_ERROR(read_key(j, "rms_norm_eps", false, &c.rms_norm_eps, src));
  PCACHE_RETURN_IF_ERROR(read_key(j, "tie_word_embeddings", false, &c.tie_word_embeddings, src));
  PCACHE_RETURN_IF_ERROR(read_key(j, "attention_bias", false, &c.attention_bias, src));
  PCACHE_RETURN_IF_ERROR(read_key(j, "mlp_bias", false, &c.mlp_bias, src));
  PCACHE_RETURN_IF_ERROR(
      read_key(j, "max_position_embeddings", false, &c.max_position_embeddings, src));
  int64_t window = 0;
  PCACHE_RETURN_IF_ERROR(read_key(j, "sliding_window", false, &window, src));
  if (c.model_type == "qwen2") {
    // Qwen 2: q/k/v biases (never o_proj's) are part of the architecture, and
    // sliding_window only counts with use_sliding_window (off in every
    // published checkpoint; with it on, only some layers slide).
    c.attention_bias = true;
    bool use_sliding_window = false;
    PCACHE_RETURN_IF_ERROR(read_key(j, "use_sliding_window", false, &use_sliding_window, src));
    if (use_sliding_window) {
      return Status::unsupported(src + ": qwen2 with use_sliding_window (per-layer sliding "
                                       "windows are not implemented)");
    }
    window = 0;
  }
  if (window > 0) c.sliding_window = window;
  PCACHE_RETURN_IF_ERROR(read_key(j, "bos_token_id", false, &c.bos_token_id, src));
  PCACHE_ASSIGN_OR_RETURN(std::vector<int> eos, read_eos(j, src));
  if (!eos.empty()) c.eos_token_ids = eos;
  PCACHE_RETURN_IF_ERROR(read_key(j, "torch_dtype", false, &c.torch_dtype, src));
  PCACHE_RETURN_IF_ERROR(read_key(j, "dtype", false, &c.torch_dtype, src));
  PCACHE_RETURN_IF_ERROR(read_rope(j, src, &c));

  // Bounds far above any real model, so that a damaged file cannot make
  // pcache size tensors from absurd numbers (docs/formats.md, "Limits").
  auto in_range = [&](const char* key, int64_t v, int64_t max) -> Status {
    if (v <= 0 || v > max)
      return Status::invalid_argument(src + ": \"" + key + "\" must be in 1.." +
                                      std::to_string(max) + ", got " + std::to_string(v));
    return Status::ok_status();
  };
  PCACHE_RETURN_IF_ERROR(in_range("vocab_size", c.vocab_size, kMaxVocabSize));
  PCACHE_RETURN_IF_ERROR(in_range("hidden_size", c.hidden_size, kMaxHiddenSize));
  PCACHE_RETURN_IF_ERROR(in_range("intermediate_size", c.intermediate_size, kMaxHiddenSize * 8));
  PCACHE_RETURN_IF_ERROR(in_range("num_hidden_layers", c.num_layers, kMaxLayers));
  PCACHE_RETURN_IF_ERROR(in_range("num_attention_heads", c.num_heads, kMaxHeads));
  PCACHE_RETURN_IF_ERROR(in_range("num_key_value_heads", c.num_kv_heads, kMaxHeads));
  if (c.max_position_embeddings != 0) {
    PCACHE_RETURN_IF_ERROR(
        in_range("max_position_embeddings", c.max_position_embeddings, kMaxContext));
  }
  if (c.sliding_window) PCACHE_RETURN_IF_ERROR(in_range("sliding_window", *c.sliding_window, kMaxContext));
  if (c.head_dim == 0) {
    if (c.hidden_size % c.num_heads != 0) {
      return Status::invalid_argument(src + ": hidden_size " + std::to_string(c.hidden_size) +
                                      " is not a multiple of num_attention_heads " +
                                      std::to_string(c.num_heads) + " and head_dim is not given");
    }
    c.head_dim = c.hidden_size / c.num_heads;
  }
  PCACHE_RETURN_IF_ERROR(in_range("head_dim", c.head_dim, kMaxHeadDim));
  if (c.head_dim % 2 != 0) {
    return Status::invalid_argument(src + ": head_dim " + std::to_string(c.head_dim) +
                                    " must be even for RoPE");
  }
  if (c.num_heads % c.num_kv_heads != 0) {
    return Status::invalid_argument(src + ": num_attention_heads " + std::to_string(c.num_heads) +
                                    " is not a multiple of num_key_value_heads " +
                                    std::to_string(c.num_kv_heads));
  }
  if (c.rms_norm_eps <= 0) return Status::invalid_argument(src + ": rms_norm_eps must be > 0");
  if (c.rope_theta <= 0) return Status::invalid_argument(src + ": rope_theta must be > 0");
  return c;
}

int64_t context_length(const ModelConfig& config) {
  return config.max_position_embeddings > 0 ? config.max_position_embeddings : kDefaultContext;
}

Status check_context(const ModelConfig& config, const std::string& what, int64_t prompt_end,
                     int64_t max_new_tokens) {
  const int64_t context = context_length(config);
  const std::string of_context =
      "the model's context of " + std::to_string(context) + " (max_position_embeddings)";
  if (prompt_end > context) {
    return Status::invalid_argument(what + ": the prompt takes " + std::to_string(prompt_end) +
                                    " positions, more than " + of_context);
  }
  if (max_new_tokens > context - prompt_end) {
    return Status::invalid_argument(what + ": max_tokens " + std::to_string(max_new_tokens) +
                                    " does not fit after a prompt of " + std::to_string(prompt_end) +
                                    " positions in " + of_context + "; at most " +
                                    std::to_string(context - prompt_end) + " fit");
  }
  return Status::ok_status();
}

Status add_generation_config(const std::string& text, const std::string& src, ModelConfig* config) {
  PCACHE_ASSIGN_OR_RETURN(json j, parse_json(text, src));
  if (!j.is_object()) return Status::corruption(src + ": top level is not a JSON object");
  PCACHE_ASSIGN_OR_RETURN(std::vector<int> eos, read_eos(j, src));
  for (int id : eos) {
    if (id < 0 || id >= config->vocab_size) {
      return Status::invalid_argument(src + ": eos_token_id " + std::to_string(id) +
                                      " is outside the vocabulary of " +
                                      std::to_string(config->vocab_size));
    }
    if (std::find(config->eos_token_ids.begin(), config->eos_token_ids.end(), id) ==
        config->eos_token_ids.end()) {
      config->eos_token_ids.push_back(id);
    }
  }
  return Status::ok_status();
}

StatusOr<ModelConfig> load_model_config(const std::string& path) {
  PCACHE_ASSIGN_OR_RETURN(std::string text, read_file(path, kMaxConfigJsonBytes, "config.json"));
  return parse_model_config(text, path);
}

}  // namespace pcache
