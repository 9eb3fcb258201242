// SavedState: an immutable prompt or conversation state, and StateTable, the
// engine's live states with least-recently-used eviction.
//
// A state's K/V are blocks of the engine's BlockPool, shared with the state
// it extends, its forks and every request running on it: a fork or a next
// turn never copies what it shares (only a partial last block is copied, by
// whichever sequence writes after it first). Blocks stay in use while a
// state or a request refers to them.
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

#include "model/paged_sequence.h"
#include "pcache/states.h"
#include "runtime/sampler.h"

namespace pcache {

class SavedState {
 public:
  // `entries`: every entry of the state (its own and those it shares).
  SavedState(std::shared_ptr<const SavedState> parent, PagedSequence entries);

  // A sequence sharing every block of the state, to run a request on.
  PagedSequence share() const;

  const std::shared_ptr<const SavedState>& parent() const { return parent_; }
  int64_t length() const { return entries_.length(); }
  const std::vector<int>& tokens() const { return entries_.tokens(); }
  const std::vector<int64_t>& positions() const { return entries_.positions(); }
  std::vector<int64_t> slots() const { return entries_.slots(); }
  const std::vector<int32_t>& blocks() const { return entries_.blocks(); }
  BlockPool& pool() const { return entries_.pool(); }
  // Pool bytes of the blocks this state holds that its parent does not, and of all its blocks.
  int64_t own_bytes() const;
  int64_t total_bytes() const;
  // Where what follows goes: resume_position when set, else after the last entry.
  int64_t next_position() const;

  at::Tensor last_logits;  // [V] float32, after the last entry (undefined: a prompt of modules only)
  // The sampler after the answer that ended this state (chat turns), which a
  // continuation with the same seed resumes; none for a prompt.
  std::optional<SamplerState> sampler;
  bool open_system_turn = false;  // chat: a system prompt opened a turn the first user line continues
  // Where what follows goes, when not right after the last entry: a PML
  // prompt's new text starts after the whole schema. -1: after the last entry.
  int64_t resume_position = -1;
  // Its K/V are those of plain tokens from position 0 computed by this
  // engine (cache_prompt, cache_chat and their turns): exact, so its blocks
  // may serve prefix reuse. Not a PML prompt's (modules encoded apart) nor a
  // snapshot's (a file's K/V, perhaps int8, perhaps anyone's).
  bool plain = false;
  // The tenant whose prefix cache a plain state's blocks (and its turns')
  // join (SamplingOptions::cache_salt).
  uint64_t cache_salt = 0;

 private:
  const std::shared_ptr<const SavedState> parent_;
  mutable std::mutex mu_;  // share() marks the tail shared
  mutable PagedSequence entries_;
};

// Live states by id. Beyond `max_states` ids, or beyond `max_bytes` of pool
// blocks held by all states together (each block counted once however many
// states share it), the least recently used are evicted; the state just
// added stays, even alone over the budget.
class StateTable {
 public:
  StateTable(int max_states, int64_t max_bytes) : max_states_(max_states), max_bytes_(max_bytes) {}
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
  int64_t bytes_locked() const;  // pool bytes of the distinct blocks all states hold
  static constexpr size_t kRememberedGoneIds = 4096;

  mutable std::mutex mu_;
  int max_states_;
  int64_t max_bytes_;
  StateId next_id_ = 1;
  std::map<StateId, Entry> entries_;
  std::list<StateId> recency_;  // most recent first
  std::map<StateId, bool> evicted_;  // ids that were evicted (true) or released (false)
};

}  // namespace pcache
