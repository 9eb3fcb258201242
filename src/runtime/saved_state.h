// SavedState: an immutable prompt or conversation state, and StateTable, the
// engine's live states with least-recently-used eviction.
//
// A state holds only what it added on top of its parent (K/V, tokens,
// positions) and a reference to the parent, so a fork or a next turn never
// copies what it shares.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "model/kv_cache.h"
#include "pcache/states.h"
#include "runtime/sampler.h"

namespace pcache {

struct SavedState {
  std::shared_ptr<const SavedState> parent;
  int64_t parent_length = 0;       // entries of the whole parent chain
  std::vector<at::Tensor> k, v;    // own entries, per layer [Hkv, n, D]
  std::vector<int> tokens;         // own tokens [n]
  std::vector<int64_t> positions;  // own positions [n]
  at::Tensor last_logits;          // [V] float32, after the last token
  // The sampler after the answer that ended this state (chat turns), which a
  // continuation with the same seed resumes; none for a prompt.
  std::optional<SamplerState> sampler;
  bool open_system_turn = false;   // chat: a system prompt opened a turn the first user line continues
  // Where what follows goes, when not right after the last own entry: a PML
  // prompt's new text starts after the whole schema. -1: after the last entry.
  int64_t resume_position = -1;

  int64_t length() const { return parent_length + static_cast<int64_t>(tokens.size()); }
  int64_t own_bytes() const;
  int64_t total_bytes() const;
  int64_t next_position() const;
  std::vector<int> all_tokens() const;
  std::vector<int64_t> all_positions() const;
  // Fills `empty` (a fresh cache of any batch size) with the whole chain in
  // every row (one copy) and returns it.
  KVCache materialize(KVCache empty) const;
};

// Builds the state that extends `parent` with entries [from, cache.length())
// of `cache` (row 0), copied out of the cache's buffers.
std::shared_ptr<SavedState> extend_state(std::shared_ptr<const SavedState> parent, const KVCache& cache,
                                               int64_t from, const std::vector<int>& tokens,
                                               at::Tensor last_logits,
                                               std::optional<SamplerState> sampler,
                                               bool open_system_turn);

class StateTable {
 public:
  explicit StateTable(int max_states) : max_states_(max_states) {}
  StateId add(std::shared_ptr<const SavedState> state, StateId parent);
  // NotFound naming the id, saying whether it was evicted.
  StatusOr<std::shared_ptr<const SavedState>> get(StateId id);
  Status release(StateId id);
  StatusOr<StateInfo> info(StateId id) const;
  std::vector<StateInfo> list() const;

 private:
  struct Entry {
    std::shared_ptr<const SavedState> state;
    StateId parent;
  };
  StateInfo info_locked(StateId id, const Entry& e) const;
  void touch_locked(StateId id);
  void remember_gone_locked(StateId id, bool evicted);
  static constexpr size_t kRememberedGoneIds = 4096;

  mutable std::mutex mu_;
  int max_states_;
  StateId next_id_ = 1;
  std::map<StateId, Entry> entries_;
  std::list<StateId> recency_;  // most recent first
  std::map<StateId, bool> evicted_;  // ids that were evicted (true) or released (false)
};

}  // namespace pcache
