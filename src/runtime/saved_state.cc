#include "runtime/saved_state.h"

#include <algorithm>

namespace pcache {

int64_t SavedState::own_bytes() const {
  int64_t n = 0;
  for (size_t l = 0; l < k.size(); ++l) n += (k[l].numel() + v[l].numel()) * static_cast<int64_t>(k[l].element_size());
  return n;
}

int64_t SavedState::total_bytes() const {
  int64_t n = 0;
  for (const SavedState* s = this; s; s = s->parent.get()) n += s->own_bytes();
  return n;
}

int64_t SavedState::next_position() const {
  for (const SavedState* s = this; s; s = s->parent.get()) {
    if (s->resume_position >= 0) return s->resume_position;
    if (!s->positions.empty()) return s->positions.back() + 1;
  }
  return 0;
}

std::vector<int> SavedState::all_tokens() const {
  std::vector<int> out = parent ? parent->all_tokens() : std::vector<int>{};
  out.insert(out.end(), tokens.begin(), tokens.end());
  return out;
}

std::vector<int64_t> SavedState::all_positions() const {
  std::vector<int64_t> out = parent ? parent->all_positions() : std::vector<int64_t>{};
  out.insert(out.end(), positions.begin(), positions.end());
  return out;
}

KVCache SavedState::materialize(KVCache cache) const {
  const int64_t batch = cache.batch();
  std::vector<const SavedState*> chain;
  for (const SavedState* s = this; s; s = s->parent.get()) chain.push_back(s);
  std::reverse(chain.begin(), chain.end());
  cache.reserve(length());
  for (const SavedState* s : chain) {
    if (s->tokens.empty()) continue;
    std::vector<at::Tensor> ks, vs;
    for (size_t l = 0; l < s->k.size(); ++l) {
      ks.push_back(s->k[l].unsqueeze(0).expand({batch, -1, -1, -1}));  // [B, Hkv, n, D]
      vs.push_back(s->v[l].unsqueeze(0).expand({batch, -1, -1, -1}));
    }
    at::Tensor pos = at::tensor(s->positions, at::kLong).unsqueeze(0).expand({batch, -1}).to(cache.device());
    cache.append(ks, vs, pos);
  }
  return cache;
}

std::shared_ptr<SavedState> extend_state(std::shared_ptr<const SavedState> parent, const KVCache& cache,
                                               int64_t from, const std::vector<int>& tokens,
                                               at::Tensor last_logits,
                                               std::optional<SamplerState> sampler,
                                               bool open_system_turn) {
  auto s = std::make_shared<SavedState>();
  const int64_t n = cache.length() - from;
  s->parent_length = parent ? parent->length() : 0;
  s->parent = std::move(parent);
  for (int64_t l = 0; l < cache.num_layers(); ++l) {
    // Copies: the cache's buffers are reused and outgrow the state.
    s->k.push_back(cache.keys(l)[0].narrow(1, from, n).clone());
    s->v.push_back(cache.values(l)[0].narrow(1, from, n).clone());
  }
  at::Tensor pos = cache.positions()[0].narrow(0, from, n).cpu();
  s->positions.assign(pos.data_ptr<int64_t>(), pos.data_ptr<int64_t>() + n);
  s->tokens = tokens;
  s->last_logits = std::move(last_logits);
  s->sampler = sampler;
  s->open_system_turn = open_system_turn;
  return s;
}

StateId StateTable::add(std::shared_ptr<const SavedState> state, StateId parent) {
  std::lock_guard<std::mutex> lock(mu_);
  const StateId id = next_id_++;
  entries_[id] = Entry{std::move(state), parent};
  recency_.push_front(id);
  while (static_cast<int>(entries_.size()) > max_states_) {
    const StateId victim = recency_.back();
    recency_.pop_back();
    entries_.erase(victim);
    remember_gone_locked(victim, true);
  }
  return id;
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
                                                 " states are kept)"
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
  i.own_bytes = e.state->own_bytes();
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
