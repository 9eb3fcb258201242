// Engine: a loaded model (weights, tokenizer, chat template) and the ways to
// run it. The entry point of the public API; no libtorch types appear here.
// The values it takes and gives are declared by concept: engine_options.h,
// generation.h, states.h, reference_report.h.
//
// Contract
// - open() loads every weight onto the chosen device once; the Engine owns
//   them until destroyed.
// - Errors are returned as Status, never thrown, naming the file, tensor or
//   option at fault.
// - Thread safety: every method may run from several threads at once.
//   Generation calls from all threads go through one scheduler that batches
//   them (continuous batching over one KV block pool); each call returns
//   when its own request ends.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pcache/cache_stats.h"
#include "pcache/serving_stats.h"
#include "pcache/engine_options.h"
#include "pcache/generation.h"
#include "pcache/reference_report.h"
#include "pcache/states.h"
#include "pcache/status.h"
#include "pcache/tokenizer.h"

namespace pcache {

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
  // with file:line:column. A schema given with a `cache_salt` (a tenant,
  // SamplingOptions::cache_salt) is that tenant's alone: only runs with that
  // salt see it (before a shared schema of the same name), and its modules
  // are stored for that tenant only, in the module store and the remote tier.
  StatusOr<std::string> add_schema_file(const std::string& path);
  StatusOr<std::string> add_schema(const std::string& text,
                                   const std::string& file_name = "<string>",
                                   uint64_t cache_salt = 0);
  // Forgets the tenant's schema of that name (NotFound when it has none,
  // even if a shared one exists). Its modules stay in the store and the pool
  // until evicted; requests already running keep it.
  Status remove_schema(const std::string& schema_name, uint64_t cache_salt = 0);

  // Encodes every cacheable module of a registered schema (the one the
  // tenant sees under that name) into the module store (those already there
  // are reported with was_cached); `on_module` hears of each in turn.
  StatusOr<std::vector<ModuleReport>> compile(const std::string& schema_name,
                                              uint64_t cache_salt = 0,
                                              const ModuleProgress& on_module = {});

  // Registers the schema that a prompt file names unless one of that name
  // is registered: NAME.xml from the prompt's folder, else from each folder
  // of EngineOptions::schema_path. Returns the name. NotFound says where it
  // looked; a schema file's errors are InvalidArgument with file:line:column.
  StatusOr<std::string> find_schema(const std::string& prompt_path);

  // Answers a PML prompt (a file, or text) from the module cache: imported
  // modules' states are reused, parameter values, uncached modules and the new
  // text are computed, then decoding runs. Its schema must be registered
  // (run_file: or found by find_schema()).
  StatusOr<Generation> run_file(const std::string& prompt_path, const RunOptions& options,
                                const TextCallback& on_text = {});
  StatusOr<Generation> run(const std::string& prompt_text, const RunOptions& options,
                           const TextCallback& on_text = {}, const std::string& file_name = "<string>");

  // Keeps a schema's modules (or one module and those below it) on the device.
  // ResourceExhausted beyond max_pinned_share of the device budget.
  Status pin(const std::string& schema_name, const std::string& module = "");
  CacheStats cache_stats() const;
  ServingStats serving_stats() const;
  void reset_peak_serving() const;  // peak_blocks_in_use starts again from now

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
  // A chat turn's state keeps where its sampler stopped: a completion or turn
  // on it with the same seed goes on along that random stream (another seed
  // starts a new one), in this engine and after save and load.

  // Prefills a prompt and keeps only its K/V and last logits.
  // Plain text is bos + text; messages use the chat template (system, then
  // turns; the conversation can go on with chat_completion); a PML prompt is
  // assembled from the module cache. `cache_salt` (SamplingOptions) keeps a
  // plain state's prefix, and its turns', to its tenant, and picks the
  // schemas a PML prompt may name (add_schema).
  StatusOr<CachedPrompt> cache_prompt(const std::string& text, uint64_t cache_salt = 0);
  StatusOr<CachedPrompt> cache_chat(const std::vector<ChatMessage>& messages,
                                    uint64_t cache_salt = 0);
  StatusOr<CachedPrompt> cache_pml(const std::string& prompt_xml,
                                   const std::string& file_name = "<string>",
                                   uint64_t cache_salt = 0,
                                   ModuleEncoding encoding = ModuleEncoding::kSchema);
  // A prompt given as token ids, as it is (no bos added): InvalidArgument
  // for an id outside the vocabulary. With text_completion(state, "") once
  // per sequence, several sequences share one prefill of a prompt (n > 1).
  StatusOr<CachedPrompt> cache_tokens(const std::vector<int>& ids, uint64_t cache_salt = 0);

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
  // (another model). A failed load changes nothing. The loaded state belongs
  // to `cache_salt`'s tenant (its turns' prefixes stay the tenant's).
  Status save(StateId state, const std::string& path, bool int8 = false) const;
  StatusOr<StateId> load(const std::string& path, uint64_t cache_salt = 0);

  // The same through the remote tier (EngineOptions::remote), so that
  // another engine on the same Redis (a replica) continues the state: the
  // snapshot's bytes are stored under `name` for this model and the tenant
  // of `cache_salt` (docs/formats.md, "Remote tier"), replacing what was
  // there; another tenant's load of the name finds nothing. Errors:
  // FailedPrecondition without a remote tier; IoError when Redis cannot be
  // reached (or ResourceExhausted when it is full); on load NotFound (no
  // state under the name), Corruption (a damaged value, then removed) and
  // load's own. A failed load changes nothing.
  Status save_remote(StateId state, const std::string& name, bool int8 = false,
                     uint64_t cache_salt = 0) const;
  StatusOr<StateId> load_remote(const std::string& name, uint64_t cache_salt = 0);
  // Waits until the modules encoded so far have been written to the remote
  // tier (or failed to): before a planned shutdown, and in tests. Returns at
  // once without a remote tier.
  void flush_remote_writes() const;

  // Runs every case of DIR/reference.safetensors (see docs/formats.md) and
  // returns each case's logit error against the stored logits.
  StatusOr<ReferenceReport> verify(const std::string& reference_dir) const;

 private:
  // Defined in src/runtime/engine_impl.h; only the runtime's own code sees it.
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pcache
