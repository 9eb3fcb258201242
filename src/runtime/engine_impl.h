// Engine::Impl, shared by engine.cc (loading, generation, PML prompts) and
// engine_states.cc (saved states, snapshots).
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "cache/module_store.h"
#include "model/checkpoint.h"
#include "model/llama.h"
#include "model/workspace.h"
#include "pcache/engine.h"
#include "runtime/prompt_cache.h"
#include "runtime/saved_state.h"
#include "xxhash.h"

namespace pcache {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The schema name under which plain prompts' states are stored.
inline constexpr const char* kPrefixSchema = "";

struct Engine::Impl {
  std::unique_ptr<Checkpoint> checkpoint;
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the folder has none
  ChatTemplate chat_template = ChatTemplate::kMistral;
  EngineOptions options;
  std::unique_ptr<ModuleStore> store;
  std::unique_ptr<PromptCache> prompts;  // null without a tokenizer

  // Token sequences of recent plain prompts whose states are in the store.
  std::mutex prefix_mu;
  std::deque<std::vector<int>> prefixes;

  ModuleKey prefix_key(const std::vector<int>& tokens) const {
    return ModuleKey{checkpoint->fingerprint(), kPrefixSchema, "prefix",
                     XXH64(tokens.data(), tokens.size() * sizeof(int), 0)};
  }

  // Fills `cache` with the longest stored prefix of `prompt` (at most all but
  // its last token, which must be computed for logits); returns its length.
  StatusOr<int64_t> reuse_prefix(const std::vector<int>& prompt, KVCache& cache);
  void remember_prefix(const std::vector<int>& prompt, const KVCache& cache);

  std::unique_ptr<StateTable> states;

  // KV workspaces with CUDA graphs (null where graphs are off).
  std::unique_ptr<WorkspacePool> workspaces;

  // A cache for one request with room for `capacity` entries: a pooled
  // workspace's when there are workspaces (held by `lease`, which hands the
  // cache back when destroyed), else a fresh one.
  struct Lease {
    std::shared_ptr<Workspace> workspace;
    std::optional<KVCache> cache;
    Lease() = default;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (workspace && cache) workspace->give_back(std::move(*cache));
    }
  };
  Status open_cache(int64_t capacity, Lease& lease) const;
  // The last token's logits [V] of `tokens` at `positions` after the cache.
  StatusOr<at::Tensor> forward_last(Lease& lease, const std::vector<int64_t>& tokens,
                                    const std::vector<int64_t>& positions) const;
  // Samples from `logits` ([V]) and decodes on the lease's cache until a stop;
  // fills gen (its "sample" step too). The sampler resumes `resume` (the
  // continued state's; Sampler says when). Returns the sampler's state at the end.
  StatusOr<SamplerState> decode(Lease& lease, at::Tensor logits, int64_t next_position,
                                const SamplingOptions& options,
                                const std::optional<SamplerState>& resume,
                                const TextCallback& on_text, Clock::time_point start,
                                Generation& gen) const;

  // InvalidArgument for an id outside the vocabulary.
  Status check_tokens(const std::vector<int>& ids, const char* what) const;

  // Saved states (engine_states.cc).
  // Opens the lease's cache holding `state` with room for `new_tokens` and
  // `max_tokens` after them, timed as the "load_state" step of `gen`. `what`
  // names the request in errors.
  Status load_state(const char* what, const SavedState& state, size_t new_tokens,
                    int64_t max_tokens, Lease& lease, Generation& gen) const;
  // The last token's logits of `ids` at first_position, first_position + 1, ...
  // after the lease's cache.
  StatusOr<at::Tensor> extend(Lease& lease, const std::vector<int>& ids,
                              int64_t first_position) const;
  // Prefills `ids` from position 0 into a new state with no parent.
  StatusOr<CachedPrompt> prefill_new_state(const std::vector<int>& ids, bool open_system_turn);
};

}  // namespace pcache
