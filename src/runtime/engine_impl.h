// Engine::Impl, shared by engine.cc (loading, generation, PML prompts) and
// engine_states.cc (saved states, snapshots).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

#include "cache/module_store.h"
#include "cache/remote_tier.h"
#include "model/block_pool.h"
#include "model/checkpoint.h"
#include "model/llama.h"
#include "pcache/engine.h"
#include "runtime/prefix_cache.h"
#include "runtime/prompt_cache.h"
#include "runtime/saved_state.h"
#include "runtime/scheduler.h"
#include "runtime/snapshot.h"

namespace pcache {

using Clock = std::chrono::steady_clock;

inline double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The tenant of a cache salt (SamplingOptions::cache_salt) in the keys of
// schemas, modules and remote states: "" for 0 (shared), else 16 hex digits.
inline std::string tenant_of(uint64_t cache_salt) {
  if (cache_salt == 0) return "";
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(cache_salt));
  return hex;
}

// Whose schemas a PML prompt sees and how its modules are encoded.
inline PromptScope prompt_scope(uint64_t cache_salt, ModuleEncoding encoding) {
  PromptScope scope{tenant_of(cache_salt), std::nullopt};
  if (encoding == ModuleEncoding::kIndependent) scope.mode = pml::EncodingMode::kIndependent;
  if (encoding == ModuleEncoding::kScaffold) scope.mode = pml::EncodingMode::kScaffold;
  return scope;
}

struct Engine::Impl {
  // Engine::open, which runs it through without_exceptions.
  static StatusOr<std::unique_ptr<Engine>> open(const std::string& model_dir,
                                                const EngineOptions& options);

  std::unique_ptr<Checkpoint> checkpoint;
  // What module, prefix and state keys name the model by: the checkpoint's
  // fingerprint, and its weight format when that is not the model dtype (an
  // int8 model's K/V differ from the full-precision model's).
  std::string fingerprint;
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the folder has none
  ChatTemplate chat_template = ChatTemplate::kMistral;
  EngineOptions options;
  std::shared_ptr<RemoteTier> remote;  // null without EngineOptions::remote; shared with the store
  std::unique_ptr<ModuleStore> store;
  std::unique_ptr<PromptCache> prompts;  // null without a tokenizer

  // The serving core (docs/architecture.md, "Serving core"): the KV of every
  // request, module, prefix and state in one pool, and one step loop that
  // runs every request. Declared in the order that destroys the scheduler
  // first and the pool after every sequence (states) that holds its blocks.
  std::unique_ptr<BlockPool> pool;
  std::unique_ptr<PrefixCache> prefixes;
  std::unique_ptr<StateTable> states;
  std::unique_ptr<Scheduler> scheduler;

  // generate_tokens with its times taken from `start` (the public call's
  // start, before any tokenizing).
  StatusOr<Generation> generate_since(const std::vector<int>& prompt, const SamplingOptions& options,
                                      const TextCallback& on_text, Clock::time_point start) const;
  // Runs `request` to its end, streaming its text to `on_text`, and fills
  // `gen`: tokens, text, stop reason, timings counted from `start` (which
  // assembly_ms already covers), and the steps `prefill_step` and "sample".
  // Returns the scheduler's result (its sequence: every entry but the last token).
  StatusOr<SequenceResult> execute(SequenceRequest request, const TextCallback& on_text,
                                   Clock::time_point start, const char* prefill_step,
                                   Generation& gen) const;

  // A request computing `ids` from position 0 on, after the longest cached
  // prefix of them of the tenant `salt` (prefix_cache on), whose length goes
  // to *reused.
  SequenceRequest plain_request(const std::vector<int>& ids, uint64_t salt, int64_t* reused) const;

  // InvalidArgument for an id outside the vocabulary.
  Status check_tokens(const std::vector<int>& ids, const char* what) const;

  // Saved states (engine_states.cc).
  // A request computing `ids` after `state`, which with `room_after` tokens
  // after them must fit the context (`what` names it in errors), timed as the
  // "load_state" step of `gen`. With no ids it samples from the state's logits.
  StatusOr<SequenceRequest> request_on_state(const char* what, const SavedState& state,
                                             const std::vector<int>& ids, int64_t room_after,
                                             Generation& gen) const;
  // Computes `request` (prefill only) into a state extending `parent`. When
  // `plain` (SavedState::plain) its blocks are remembered for prefix reuse
  // by the tenant `salt`.
  StatusOr<std::shared_ptr<SavedState>> prefill_state(SequenceRequest request,
                                                      std::shared_ptr<const SavedState> parent,
                                                      bool plain, uint64_t salt) const;
  // The state's snapshot (FailedPrecondition for a state without logits yet).
  StatusOr<Snapshot> snapshot_of_state(StateId id, const char* what) const;
  // Makes a state of a snapshot read from `label` (a path or a remote key).
  StatusOr<StateId> add_loaded_state(const std::string& label, Snapshot snap, uint64_t cache_salt);
  // Prefills `ids` from position 0 (reusing a cached prefix of the tenant
  // `salt`) into a new state.
  StatusOr<CachedPrompt> prefill_new_state(const std::vector<int>& ids, bool open_system_turn,
                                           uint64_t salt);
};

}  // namespace pcache
