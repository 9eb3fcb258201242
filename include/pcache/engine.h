// Engine: a loaded model (weights, tokenizer, chat template) and the ways to
// run it. The entry point of the public API; no libtorch types appear here.
//
// Contract
// - open() loads every weight onto the chosen device once; the Engine owns
//   them until destroyed.
// - Errors are returned as Status, never thrown, naming the file, tensor or
//   option at fault.
// - Thread safety: const methods may run from several threads at once; each
//   generate call uses its own KV cache.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pcache/status.h"
#include "pcache/tokenizer.h"

namespace pcache {

struct EngineOptions {
  std::string device = "cpu";          // "cpu", "cuda" or "cuda:N"
  std::string dtype = "auto";          // "auto" (float32 on CPU, bfloat16 on CUDA),
                                       // "float32", "bfloat16" or "float16"
  std::string chat_template = "auto";  // "auto" (from the tokenizer), "mistral" or "llama2"
};

struct SamplingOptions {
  int max_tokens = 128;     // generated tokens at most (>= 1)
  float temperature = 0.f;  // 0: greedy (argmax); otherwise softmax(logits / T)
  int top_k = 0;            // keep the k most likely tokens; 0: all
  float top_p = 1.f;        // keep the smallest set with this much mass; 1: all
  uint64_t seed = 0;        // same seed, same options, same prompt: same tokens
  bool stop_at_eos = true;

  // InvalidArgument naming the option when one is out of range.
  Status validate() const;
};

enum class StopReason { kEos, kMaxTokens, kCallback };
const char* stop_reason_name(StopReason reason);

struct GenerationTimings {
  int prompt_tokens = 0;
  double prefill_ms = 0;     // prompt forward + choosing the first token (time to first token)
  int generated_tokens = 0;  // including the first
  double decode_ms = 0;      // every token after the first
  double decode_tokens_per_s() const;
};

struct Generation {
  std::string text;
  std::vector<int> tokens;  // generated ids, without the eos that stopped them
  StopReason stop_reason = StopReason::kMaxTokens;
  GenerationTimings timings;
};

// Receives each piece of text as soon as it decodes to whole characters.
// Returning false stops generation after that piece.
using TextCallback = std::function<bool(const std::string& piece)>;

struct ReferenceCase {
  std::string name;
  int64_t tokens = 0;
  double max_abs_error = 0;
  double top1_agreement = 0;
};

struct ReferenceReport {
  std::vector<ReferenceCase> cases;
  // How the reference computed RoPE frequencies, as found by matching it:
  // "float32" (transformers' from_pretrained), or "rounded to bfloat16" /
  // "rounded to float16" (a model cast in memory with .to(dtype)).
  std::string rope_frequencies = "float32";
};

class Engine {
 public:
  // Reads MODEL_DIR (config.json, *.safetensors, tokenizer.model).
  // Errors: NotFound / Corruption / InvalidArgument / Unsupported from the
  // checkpoint (file and tensor named); InvalidArgument or Unsupported for the
  // options; ResourceExhausted when the weights do not fit the device.
  static StatusOr<std::unique_ptr<Engine>> open(const std::string& model_dir,
                                                const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // "mistral: 2 layers, ... on cpu, float32"
  std::string describe() const;
  // FailedPrecondition when the folder has no tokenizer.model.
  StatusOr<const Tokenizer*> tokenizer() const;
  ChatTemplate chat_template() const;

  // Full prefill of the prompt, then decoding. The prompt is bos + text.
  StatusOr<Generation> generate(const std::string& prompt, const SamplingOptions& options,
                                const TextCallback& on_text = {}) const;
  // The same over a conversation in the engine's chat template.
  StatusOr<Generation> generate_chat(const std::vector<ChatMessage>& messages,
                                     const SamplingOptions& options,
                                     const TextCallback& on_text = {}) const;
  // The same from token ids (InvalidArgument for an id outside the vocabulary).
  StatusOr<Generation> generate_tokens(const std::vector<int>& prompt,
                                       const SamplingOptions& options,
                                       const TextCallback& on_text = {}) const;

  // Runs every case of DIR/reference.safetensors (see docs/formats.md) and
  // returns each case's logit error against the stored logits.
  StatusOr<ReferenceReport> verify(const std::string& reference_dir) const;

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pcache
