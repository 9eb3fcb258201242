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

#include "pcache/cache_stats.h"
#include "pcache/status.h"
#include "pcache/tokenizer.h"

namespace pcache {

struct EngineOptions {
  std::string device = "cpu";          // "cpu", "cuda" or "cuda:N"
  std::string dtype = "auto";          // "auto" (float32 on CPU, bfloat16 on CUDA),
                                       // "float32", "bfloat16" or "float16"
  std::string chat_template = "auto";  // "auto" (from the tokenizer), "mistral" or "llama2"

  // Module store (docs/architecture.md): device tier budget, host tier
  // budget (GPU only), and a cache directory for the disk tier ("" = none).
  int64_t device_cache_bytes = 2ll << 30;
  int64_t host_cache_bytes = 8ll << 30;
  std::string cache_dir;
  double max_pinned_share = 0.5;
  // Keep K/V below the device tier (host memory, cache files) as per-channel
  // int8, dequantized when brought back to the device (ModuleStoreOptions::int8_tiers).
  bool int8_tiers = false;
  // Encoding mode of schemas that do not say: "scaffold" or "independent".
  std::string default_encoding = "scaffold";
  // Let <module src="..."> read any file: absolute paths and paths that leave
  // the schema's folder. Off by default, so that a schema cannot read files
  // outside its own folder (docs/pml.md, "Files").
  bool allow_src_outside = false;
  // Reuse the states of earlier plain prompts that share a prefix.
  bool prefix_cache = true;
  // Saved states (cache_prompt, chat_completion, load) kept at once; the
  // least recently used is released beyond this.
  int max_states = 8;

  // GPU: KV workspaces kept between requests, with the CUDA graphs captured on
  // them (docs/architecture.md, "Speed"), up to this many bytes when idle.
  int64_t workspace_bytes = 4ll << 30;

  // A tokenizer.model other than MODEL_DIR/tokenizer.model ("" = that one).
  std::string tokenizer;
  // Benchmarks at real shapes without the weights: MODEL_DIR may then be a
  // config.json file (or a folder holding one) and every weight is drawn at
  // random (seeded), which does not change the cost of a forward pass. The
  // vocabulary is widened to the tokenizer's when that is larger.
  bool random_weights = false;
};

// The device allocator's view, in bytes (all 0 on the CPU).
struct DeviceMemory {
  int64_t allocated = 0;       // held by live tensors now
  int64_t peak_allocated = 0;  // most held at once since the last reset
  int64_t reserved = 0;        // held by the caching allocator
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
  int prompt_tokens = 0;      // all of the prompt: reused from the cache + computed
  int cached_tokens = 0;      // reused (modules or a shared prefix)
  int modules_reused = 0;     // PML prompts: modules taken from the store
  int modules_encoded = 0;    // PML prompts: modules encoded for this request
  double assembly_ms = 0;     // finding and gathering cached states (encoding missing modules included)
  double prefill_ms = 0;      // forward of the computed prompt tokens
  double first_token_ms = 0;  // from the call to the first token: assembly + prefill + sampling
  int generated_tokens = 0;   // including the first
  double decode_ms = 0;       // every token after the first
  double decode_tokens_per_s() const;
};

// One step of a request, as seed 001's table shows it: reset, eval (prefill
// of a prompt), save_state, load_state, eval_prompt (prefill of new text on a
// saved state), sample (first token and decoding).
struct StepTiming {
  std::string step;
  double ms = 0;
  int tokens = 0;  // 0 where tokens do not apply
};

struct Generation {
  std::vector<StepTiming> steps;
  std::string text;
  std::vector<int> tokens;  // generated ids, without the eos that stopped them
  StopReason stop_reason = StopReason::kMaxTokens;
  GenerationTimings timings;
};

// Options of a PML prompt run.
struct RunOptions {
  SamplingOptions sampling;
  bool use_cache = true;   // false: the baseline, one plain prefill of the same tokens and positions
  bool read_only = false;  // use cached states, store nothing new
};

// One module as compiled: what it holds and what it cost.
struct ModuleReport {
  std::string module;       // path in the schema ("" is the schema's own text)
  int tokens = 0;
  int64_t first_position = 0, end_position = 0;  // [first, end)
  int64_t bytes = 0;        // K and V of all layers
  double encode_ms = 0;     // 0 when it was already cached
  bool was_cached = false;
};


// A saved state: the K/V of a prompt (and of a conversation so far), its last
// logits and sampler state. Ids are never reused within an engine.
using StateId = uint64_t;

struct StateInfo {
  StateId id = 0;
  StateId parent = 0;        // the state it extends (0: none); shares its K/V
  int tokens = 0;            // all tokens, parents' included
  int64_t own_bytes = 0;     // K/V bytes this state added
  int64_t total_bytes = 0;   // K/V bytes of its whole history (shared with parents and forks)
  int64_t logits_bytes = 0;
};

struct CachedPrompt {
  StateId state = 0;
  int tokens = 0;
  std::vector<StepTiming> steps;  // reset, eval, save_state
};

struct ChatResult {
  Generation generation;
  StateId state = 0;  // the conversation after this answer
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

  // Registers a PML schema (a file, or text labelled `file_name` in errors),
  // replacing one of the same name; returns its name. Errors: InvalidArgument
  // with file:line:column.
  StatusOr<std::string> add_schema_file(const std::string& path);
  StatusOr<std::string> add_schema(const std::string& text, const std::string& file_name = "<string>");

  // Encodes every cacheable module of a registered schema into the module
  // store (those already there are reported with was_cached).
  StatusOr<std::vector<ModuleReport>> compile(const std::string& schema_name);

  // Answers a PML prompt (a file, or text) from the module cache: imported
  // modules' states are reused, parameter values, uncached modules and the new
  // text are computed, then decoding runs. Its schema must be registered.
  StatusOr<Generation> run_file(const std::string& prompt_path, const RunOptions& options,
                                const TextCallback& on_text = {});
  StatusOr<Generation> run(const std::string& prompt_text, const RunOptions& options,
                           const TextCallback& on_text = {}, const std::string& file_name = "<string>");

  // Keeps a schema's modules (or one module and those below it) on the device.
  // ResourceExhausted beyond max_pinned_share of the device budget.
  Status pin(const std::string& schema_name, const std::string& module = "");
  CacheStats cache_stats() const;

  // "cpu" or "cuda:N"; the GPU's name ("cpu" on the CPU); the libraries built
  // in ("libtorch 2.11.0, CUDA 13.0"); device memory; waits for queued work.
  std::string device() const;
  std::string device_name() const;
  std::string build_info() const;
  DeviceMemory device_memory() const;
  void reset_peak_device_memory() const;
  void synchronize() const;

  // --- Saved states (docs/architecture.md, "Saved states") ---
  // Thread-safe: several threads may use the engine's states at once; a state
  // is immutable once made, so concurrent completions on one state are fine.

  // Prefills a prompt and keeps only its K/V, last logits and sampler state.
  // Plain text is bos + text; messages use the chat template (system, then
  // turns; the conversation can go on with chat_completion); a PML prompt is
  // assembled from the module cache.
  StatusOr<CachedPrompt> cache_prompt(const std::string& text);
  StatusOr<CachedPrompt> cache_chat(const std::vector<ChatMessage>& messages);
  StatusOr<CachedPrompt> cache_pml(const std::string& prompt_xml, const std::string& file_name = "<string>");

  // Appends `text` to the state and generates; the state is not changed.
  StatusOr<Generation> text_completion(StateId state, const std::string& text, const SamplingOptions& options,
                                       const TextCallback& on_text = {});
  // Several inputs over one state as one batch (prefill and decode batched,
  // each input stopping on its own); results in input order.
  StatusOr<std::vector<Generation>> text_completion(StateId state, const std::vector<std::string>& inputs,
                                                    const SamplingOptions& options);

  // A new user turn (or several messages) on a conversation state; the state
  // after the answer is saved and returned, so the next turn prefills only
  // the new line. The given state stays as it was (undo = use it again).
  StatusOr<ChatResult> chat_completion(StateId state, const std::string& user_turn, const SamplingOptions& options,
                                       const TextCallback& on_text = {});
  StatusOr<ChatResult> chat_completion(StateId state, const std::vector<ChatMessage>& messages,
                                       const SamplingOptions& options, const TextCallback& on_text = {});

  // A second handle on a state, sharing its K/V (nothing is copied; the two
  // diverge only as each is extended).
  StatusOr<StateId> fork(StateId state);
  // Goes back to an earlier state: marks it most recently used and returns
  // it, to continue (undo) or to answer again with other options (regenerate).
  StatusOr<StateId> restore(StateId state);
  // NotFound when the id is unknown or was released or evicted.
  Status release(StateId state);
  StatusOr<StateInfo> state_info(StateId state) const;
  // The state's next-token logits (float32, one per vocabulary entry).
  StatusOr<std::vector<float>> next_token_logits(StateId state) const;
  std::vector<StateInfo> states() const;  // most recently used first

  // Writes a state to a snapshot file (docs/formats.md), optionally with K/V
  // quantized to int8; load reads one back as a new state. Errors: IoError;
  // on load NotFound, Corruption, Unsupported (version), FailedPrecondition
  // (another model). A failed load changes nothing.
  Status save(StateId state, const std::string& path, bool int8 = false) const;
  StatusOr<StateId> load(const std::string& path);

  // Runs every case of DIR/reference.safetensors (see docs/formats.md) and
  // returns each case's logit error against the stored logits.
  StatusOr<ReferenceReport> verify(const std::string& reference_dir) const;

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pcache
