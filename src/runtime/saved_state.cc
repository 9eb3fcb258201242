#include "runtime/saved_state.h"

#include <algorithm>
#include <set>

namespace pcache {

namespace {

int64_t bytes_per_block(const BlockPool& pool) { return pool.stats().bytes / pool.num_blocks(); }

}  // namespace

SavedState::SavedState(std::shared_ptr<const SavedState> parent, PagedSequence entries)
    : parent_(std::move(parent)), entries_(entries.share()) {}

PagedSequence SavedState::share() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.share();
}

int64_t SavedState::own_bytes() const {
  const std::vector<int32_t>& mine = entries_.blocks();
  std::vector<int32_t> theirs = parent_ ? parent_->entries_.blocks() : std::vector<int32_t>{};
  std::sort(theirs.begin(), theirs.end());
  int64_t own = 0;
  for (int32_t b : mine) own += std::binary_search(theirs.begin(), theirs.end(), b) ? 0 : 1;
  return own * bytes_per_block(pool());
}

int64_t SavedState::total_bytes() const {
  return static_cast<int64_t>(entries_.blocks().size()) * bytes_per_block(pool());
}

int64_t SavedState::next_position() const {
  if (resume_position >= 0) return resume_position;
  return positions().empty() ? 0 : positions().back() + 1;
}

StateId StateTable::add(std::shared_ptr<const SavedState> state, StateId parent) {
  std::lock_guard<std::mutex> lock(mu_);
  const StateId id = next_id_++;
  entries_[id] = Entry{std::move(state), parent};
  recency_.push_front(id);
  while (entries_.size() > 1 &&
         (static_cast<int>(entries_.size()) > max_states_ || bytes_locked() > max_bytes_)) {
    const StateId victim = recency_.back();
    recency_.pop_back();
    entries_.erase(victim);
    remember_gone_locked(victim, true);
  }
  return id;
}

int64_t StateTable::bytes_locked() const {
  std::set<int32_t> blocks;
  for (const auto& [id, e] : entries_) blocks.insert(e.state->blocks().begin(), e.state->blocks().end());
  return entries_.empty() ? 0
                          : static_cast<int64_t>(blocks.size()) *
                                bytes_per_block(entries_.begin()->second.state->pool());
}

void StateTable::remember_gone_locked(StateId id, bool evicted) {
  evicted_[id] = evicted;
  // Only for better messages: forget the oldest beyond a bound.
  if (evicted_.size() > kRememberedGoneIds) evicted_.erase(evicted_.begin());
}

void StateTable::touch_locked(StateId id) {
  recency_.remove(id);
  recency_.push_front(id);
}

StatusOr<std::shared_ptr<const SavedState>> StateTable::get(StateId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    auto gone = evicted_.find(id);
    if (gone == evicted_.end()) return Status::not_found("state " + std::to_string(id) + " does not exist");
    return Status::not_found("state " + std::to_string(id) +
                             (gone->second ? " was evicted (least recently used; at most " + std::to_string(max_states_) +
                                                 " states and " + std::to_string(max_bytes_ >> 20) +
                                                 " MiB of their K/V are kept)"
                                           : " was released"));
  }
  touch_locked(id);
  return it->second.state;
}

Status StateTable::release(StateId id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.erase(id) == 0) return Status::not_found("state " + std::to_string(id) + " is not live");
  recency_.remove(id);
  remember_gone_locked(id, false);
  return Status::ok_status();
}

StateInfo StateTable::info_locked(StateId id, const Entry& e) const {
  StateInfo i;
  i.id = id;
  i.parent = e.parent;
  i.tokens = static_cast<int>(e.state->length());
  // A fork is its parent's very state under another id: it added nothing.
  auto parent = entries_.find(e.parent);
  const bool fork = parent != entries_.end() && parent->second.state == e.state;
  i.own_bytes = fork ? 0 : e.state->own_bytes();
  i.total_bytes = e.state->total_bytes();
  i.logits_bytes = e.state->last_logits.defined() ? e.state->last_logits.numel() * 4 : 0;
  return i;
}

StatusOr<StateInfo> StateTable::info(StateId id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return Status::not_found("state " + std::to_string(id) + " is not live");
  return info_locked(id, it->second);
}

std::vector<StateInfo> StateTable::list() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<StateInfo> out;
  for (StateId id : recency_) out.push_back(info_locked(id, entries_.at(id)));
  return out;
}

}  // namespace pcache
