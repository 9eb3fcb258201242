// Engine: saved states (cache_prompt, completions, chat turns, fork, restore,
// release) and snapshot files.
#include <algorithm>
#include <future>

#include "pcache/engine.h"
#include "runtime/engine_impl.h"
#include "runtime/sampler.h"
#include "cache/remote_keys.h"
#include "runtime/snapshot.h"
#include "tokenizer/chat_turns.h"
#include "cache/tensor_status.h"

namespace pcache {
namespace {

std::vector<int> concat(std::vector<int> a, const std::vector<int>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A snapshot's content checked against the model before it becomes a state
// (its checksum only says the file is as written, not that it makes sense):
// token ids in the vocabulary, distinct positions in the context, the point
// where what follows goes after all of them, finite logits, and no more
// sampler draws than tokens (each draw sampled a token of the conversation; a
// huge count would make the next continuation spin replaying it).
Status check_loaded_state(const std::string& path, const Snapshot& snap,
                          const ModelConfig& config) {
  auto corrupt = [&](const std::string& why) { return Status::corruption(path + ": " + why); };
  for (size_t i = 0; i < snap.tokens.size(); ++i) {
    if (snap.tokens[i] < 0 || snap.tokens[i] >= config.vocab_size) {
      return corrupt("token " + std::to_string(i) + " is " + std::to_string(snap.tokens[i]) +
                     ", outside the vocabulary of " + std::to_string(config.vocab_size));
    }
  }
  const int64_t context = context_length(config);
  std::vector<int64_t> sorted = snap.positions;
  std::sort(sorted.begin(), sorted.end());
  if (sorted.front() < 0 || sorted.back() >= context) {
    return corrupt("position " +
                   std::to_string(sorted.front() < 0 ? sorted.front() : sorted.back()) +
                   " is outside the model's context of " + std::to_string(context));
  }
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    return corrupt("two entries share position " +
                   std::to_string(*std::adjacent_find(sorted.begin(), sorted.end())));
  }
  const int64_t resume = snap.resume_position;
  if (resume >= 0 && (resume <= sorted.back() || resume > context)) {
    return corrupt("resume position " + std::to_string(resume) +
                   " is not after the last position " + std::to_string(sorted.back()) +
                   " within the context of " + std::to_string(context));
  }
  if (resume < 0 && snap.positions.back() != sorted.back()) {
    return corrupt("the last entry's position " + std::to_string(snap.positions.back()) +
                   " is not the greatest (" + std::to_string(sorted.back()) +
                   "): what follows would overlap it");
  }
  if (snap.sampler && snap.sampler->draws > snap.tokens.size()) {
    return corrupt("the sampler drew " + std::to_string(snap.sampler->draws) +
                   " numbers, more than the " + std::to_string(snap.tokens.size()) +
                   " tokens it could have sampled");
  }
  if (!at::isfinite(snap.last_logits).all().item<bool>())
    return corrupt("the logits hold inf or NaN");
  return Status::ok_status();
}

// The file's view of a state and back. Only these two see both: the snapshot
// format (snapshot.h) knows nothing of how a state keeps its K/V.
StatusOr<Snapshot> snapshot_of(const SavedState& state, const std::string& fingerprint) {
  Snapshot snap;
  snap.model_fingerprint = fingerprint;
  snap.tokens = state.tokens();
  snap.positions = state.positions();
  BlockPool& pool = state.pool();
  PCACHE_RETURN_IF_ERROR(without_exceptions("gathering the state's K/V", [&] {
    const at::Tensor slots = at::tensor(state.slots(), at::kLong).to(pool.keys(0).device());
    for (int64_t l = 0; l < pool.num_layers(); ++l) {
      // pool rows [n, Hkv, D] -> [Hkv, n, D]
      snap.k.push_back(pool.keys(l).index_select(0, slots).transpose(0, 1).contiguous());
      snap.v.push_back(pool.values(l).index_select(0, slots).transpose(0, 1).contiguous());
    }
    return Status::ok_status();
  }));
  snap.last_logits = state.last_logits.to(at::kCPU, at::kFloat);
  snap.open_system_turn = state.open_system_turn;
  if (state.next_position() != snap.positions.back() + 1) {
    snap.resume_position = state.next_position();
  }
  snap.sampler = state.sampler;
  return snap;
}

// `snap` (checked) as a state with no parent, its K/V written into new pool blocks.
StatusOr<std::shared_ptr<SavedState>> state_of(const Snapshot& snap, BlockPool& pool) {
  PagedSequence entries(pool);
  PCACHE_RETURN_IF_ERROR(entries.append(snap.tokens, snap.positions));
  PCACHE_RETURN_IF_ERROR(without_exceptions("writing the state's K/V", [&] {
    const at::Tensor slots = at::tensor(entries.slots(), at::kLong).to(pool.keys(0).device());
    for (int64_t l = 0; l < pool.num_layers(); ++l) {
      at::Tensor k = pool.keys(l), v = pool.values(l);  // [slots, Hkv, D]
      k.index_copy_(0, slots, snap.k[l].to(k.device(), k.scalar_type()).transpose(0, 1));
      v.index_copy_(0, slots, snap.v[l].to(v.device(), v.scalar_type()).transpose(0, 1));
    }
    return Status::ok_status();
  }));
  auto state = std::make_shared<SavedState>(nullptr, std::move(entries));
  state->last_logits = snap.last_logits.to(pool.keys(0).device());
  state->open_system_turn = snap.open_system_turn;
  state->resume_position = snap.resume_position;
  state->sampler = snap.sampler;
  return state;
}

}  // namespace

StatusOr<SequenceRequest> Engine::Impl::request_on_state(const char* what,
                                                         const SavedState& state,
                                                         const std::vector<int>& ids,
                                                         int64_t room_after,
                                                         Generation& gen) const {
  const int64_t first = state.next_position(), n = static_cast<int64_t>(ids.size());
  PCACHE_RETURN_IF_ERROR(check_context(model->config(), what, first + n, room_after));
  const auto start = Clock::now();
  SequenceRequest request(*pool);
  request.context = state.share();
  request.tokens = ids;
  for (int64_t i = 0; i < n; ++i) request.positions.push_back(first + i);
  request.next_position = first + n;
  request.resume_sampler = state.sampler;
  if (ids.empty()) request.first_logits = state.last_logits;
  gen.timings.assembly_ms = ms_since(start);
  gen.timings.cached_tokens = static_cast<int>(state.length());
  gen.timings.prompt_tokens = static_cast<int>(state.length() + n);
  gen.steps.push_back({"load_state", gen.timings.assembly_ms, gen.timings.cached_tokens});
  return request;
}

StatusOr<std::shared_ptr<SavedState>> Engine::Impl::prefill_state(
    SequenceRequest request, std::shared_ptr<const SavedState> parent, bool plain,
    uint64_t salt) const {
  request.prefill_only = true;
  PCACHE_ASSIGN_OR_RETURN(SequenceResult r, scheduler->run(std::move(request)));
  if (options.prefix_cache && plain) prefixes->remember(*r.sequence, salt);
  auto state = std::make_shared<SavedState>(std::move(parent), std::move(*r.sequence));
  state->last_logits = std::move(r.last_logits);
  state->plain = plain;
  state->cache_salt = salt;
  return state;
}

StatusOr<CachedPrompt> Engine::Impl::prefill_new_state(const std::vector<int>& ids,
                                                       bool open_system_turn, uint64_t salt) {
  CachedPrompt out;
  auto start = Clock::now();
  const int64_t n = static_cast<int64_t>(ids.size());
  PCACHE_RETURN_IF_ERROR(check_context(model->config(), "cache_prompt", n, 0));
  int64_t reused = 0;
  SequenceRequest request = plain_request(ids, salt, &reused);
  out.steps.push_back({reused > 0 ? "load_state" : "reset", ms_since(start), static_cast<int>(reused)});
  start = Clock::now();
  PCACHE_ASSIGN_OR_RETURN(std::shared_ptr<SavedState> state,
                          prefill_state(std::move(request), nullptr, /*plain=*/true, salt));
  state->open_system_turn = open_system_turn;
  out.steps.push_back({"eval", ms_since(start), static_cast<int>(n - reused)});
  start = Clock::now();
  out.state = states->add(std::move(state), 0);
  out.steps.push_back({"save_state", ms_since(start), 0});
  out.tokens = static_cast<int>(n);
  return out;
}

StatusOr<CachedPrompt> Engine::cache_prompt(const std::string& text, uint64_t cache_salt) {
  return without_exceptions("cache_prompt", [&]() -> StatusOr<CachedPrompt> {
    PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, tokenizer());
    PCACHE_RETURN_IF_ERROR(check_text_fits(*tok, impl_->model->config(), "cache_prompt", text.size()));
    return impl_->prefill_new_state(concat(tok->bos_ids(), tok->encode(text)), false, cache_salt);
  });
}

StatusOr<CachedPrompt> Engine::cache_chat(const std::vector<ChatMessage>& messages,
                                          uint64_t cache_salt) {
  return without_exceptions("cache_chat", [&]() -> StatusOr<CachedPrompt> {
    PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, tokenizer());
    PCACHE_RETURN_IF_ERROR(check_text_fits(*tok, impl_->model->config(), "cache_chat", messages));
    ChatTurns format(*tok, impl_->chat_template);
    size_t i = 0;
    std::string system;
    if (!messages.empty() && messages[0].role == "system") system = messages[i++].content;
    PCACHE_ASSIGN_OR_RETURN(std::vector<int> ids, format.start(system));
    bool open = !system.empty();
    bool first = true;
    for (; i < messages.size(); i += 2) {
      if (messages[i].role != "user" || i + 1 >= messages.size() ||
          messages[i + 1].role != "assistant") {
        return Status::invalid_argument(
            "cache_chat: message " + std::to_string(i) + " (" + messages[i].role +
            "): expected an optional system message, then user and assistant pairs");
      }
      PCACHE_ASSIGN_OR_RETURN(auto user, format.user(messages[i].content, open, first));
      PCACHE_ASSIGN_OR_RETURN(auto answer, format.answer(messages[i + 1].content));
      ids = concat(concat(ids, user), answer);
      open = first = false;
    }
    return impl_->prefill_new_state(ids, open, cache_salt);
  });
}

StatusOr<CachedPrompt> Engine::cache_tokens(const std::vector<int>& ids, uint64_t cache_salt) {
  return without_exceptions("cache_tokens", [&]() -> StatusOr<CachedPrompt> {
    if (ids.empty()) return Status::invalid_argument("cache_tokens: no tokens");
    PCACHE_RETURN_IF_ERROR(impl_->check_tokens(ids, "cache_tokens"));
    return impl_->prefill_new_state(ids, false, cache_salt);
  });
}

StatusOr<CachedPrompt> Engine::cache_pml(const std::string& prompt_xml,
                                         const std::string& file_name, uint64_t cache_salt,
                                         ModuleEncoding encoding) {
  return without_exceptions("cache_pml", [&]() -> StatusOr<CachedPrompt> {
    if (!impl_->prompts) return tokenizer().status();
    PCACHE_ASSIGN_OR_RETURN(pml::Prompt prompt, pml::parse_prompt(prompt_xml, file_name));
    CachedPrompt out;
    auto start = Clock::now();
    PCACHE_ASSIGN_OR_RETURN(AssembledPrompt a,
                            impl_->prompts->assemble(prompt, prompt_scope(cache_salt, encoding),
                                                     *impl_->pool, /*read_only=*/false,
                                                     /*allow_empty=*/true));
    out.steps.push_back({"load_state", ms_since(start), static_cast<int>(a.cached_tokens)});
    out.reused_modules = std::move(a.reused_modules);
    out.encoded_modules = std::move(a.encoded_modules);
    start = Clock::now();
    const int64_t n = static_cast<int64_t>(a.tokens.size());
    out.tokens = static_cast<int>(a.cached_tokens + n);
    std::shared_ptr<SavedState> state;
    if (n > 0) {
      SequenceRequest request(*impl_->pool);
      request.context = std::move(a.sequence);
      request.tokens = std::move(a.tokens);
      request.positions = std::move(a.positions);
      request.next_position = a.next_position;
      PCACHE_ASSIGN_OR_RETURN(state,
                              impl_->prefill_state(std::move(request), nullptr, /*plain=*/false, 0));
    } else {
      // A prompt of modules only (a chat's context) has no logits until a turn comes.
      state = std::make_shared<SavedState>(nullptr, std::move(a.sequence));
    }
    out.steps.push_back({"eval", ms_since(start), static_cast<int>(n)});
    start = Clock::now();
    state->resume_position = a.next_position;
    out.state = impl_->states->add(std::move(state), 0);
    out.steps.push_back({"save_state", ms_since(start), 0});
    return out;
  });
}

StatusOr<Generation> Engine::text_completion(StateId id, const std::string& text,
                                             const SamplingOptions& options,
                                             const TextCallback& on_text) {
  return without_exceptions("text_completion", [&]() -> StatusOr<Generation> {
    const auto start = Clock::now();  // tokenizing counts: the times are from the call
    PCACHE_RETURN_IF_ERROR(options.validate());
    PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, tokenizer());
    PCACHE_ASSIGN_OR_RETURN(auto state, impl_->states->get(id));
    PCACHE_RETURN_IF_ERROR(
        check_text_fits(*tok, impl_->model->config(), "text_completion", text.size()));
    const std::vector<int> ids = tok->encode(text);
    if (ids.empty() && !state->last_logits.defined()) {
      return Status::invalid_argument(
          "text_completion: state " + std::to_string(id) +
          " has no logits yet (a prompt of modules only): give some text");
    }
    Generation gen;
    PCACHE_ASSIGN_OR_RETURN(SequenceRequest request,
                            impl_->request_on_state("text_completion", *state, ids,
                                                    options.max_tokens, gen));
    request.sampling = options;
    PCACHE_RETURN_IF_ERROR(
        impl_->execute(std::move(request), on_text, start, "eval_prompt", gen).status());
    return gen;
  });
}

StatusOr<std::vector<Generation>> Engine::text_completion(StateId id,
                                                          const std::vector<std::string>& inputs,
                                                          const SamplingOptions& options) {
  return without_exceptions("text_completion", [&]() -> StatusOr<std::vector<Generation>> {
    PCACHE_RETURN_IF_ERROR(options.validate());
    PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, tokenizer());
    PCACHE_RETURN_IF_ERROR(impl_->states->get(id).status());
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (tok->encode(inputs[i]).empty())
        return Status::invalid_argument("text_completion: input " + std::to_string(i) + " is empty");
    }
    // One call per input, all at once: the scheduler batches them (each with
    // its own sampler, seeded as a lone run would be).
    std::vector<std::future<StatusOr<Generation>>> runs;
    for (const std::string& input : inputs) {
      runs.push_back(std::async(std::launch::async, [this, id, &input, &options] {
        return text_completion(id, input, options);
      }));
    }
    std::vector<Generation> out;
    Status first_error;
    for (auto& run : runs) {
      StatusOr<Generation> g = run.get();
      if (!g.ok() && first_error.ok()) first_error = g.status();
      if (g.ok()) out.push_back(std::move(g).value());
    }
    if (!first_error.ok()) return first_error;
    return out;
  });
}

StatusOr<ChatResult> Engine::chat_completion(StateId id, const std::string& user_turn,
                                             const SamplingOptions& options,
                                             const TextCallback& on_text) {
  return chat_completion(id, std::vector<ChatMessage>{{"user", user_turn}}, options, on_text);
}

StatusOr<ChatResult> Engine::chat_completion(StateId id, const std::vector<ChatMessage>& messages,
                                             const SamplingOptions& options,
                                             const TextCallback& on_text) {
  return without_exceptions("chat_completion", [&]() -> StatusOr<ChatResult> {
    const auto start = Clock::now();  // tokenizing counts: the times are from the call
    PCACHE_RETURN_IF_ERROR(options.validate());
    PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, tokenizer());
    PCACHE_ASSIGN_OR_RETURN(auto state, impl_->states->get(id));
    if (messages.empty() || messages.back().role != "user") {
      return Status::invalid_argument("chat_completion: the last message must be a user turn");
    }
    PCACHE_RETURN_IF_ERROR(
        check_text_fits(*tok, impl_->model->config(), "chat_completion", messages));
    ChatTurns format(*tok, impl_->chat_template);
    bool open = state->open_system_turn;
    bool first = state->length() <= 1;
    std::vector<int> ids;
    for (size_t i = 0; i < messages.size(); ++i) {
      const ChatMessage& m = messages[i];
      const bool expect_user = i % 2 == 0;
      if (m.role != (expect_user ? "user" : "assistant")) {
        return Status::invalid_argument("chat_completion: message " + std::to_string(i) + " (" +
                                        m.role + "): expected " +
                                        (expect_user ? "user" : "assistant"));
      }
      if (expect_user) {
        PCACHE_ASSIGN_OR_RETURN(auto user, format.user(m.content, open, first));
        ids = concat(ids, user);
        open = first = false;
      } else {
        PCACHE_ASSIGN_OR_RETURN(auto answer, format.answer(m.content));
        ids = concat(ids, answer);
      }
    }
    ChatResult result;
    Generation& gen = result.generation;
    // Room for what closes the answer too.
    PCACHE_ASSIGN_OR_RETURN(const std::vector<int> end, format.end_of_answer());
    PCACHE_ASSIGN_OR_RETURN(
        SequenceRequest request,
        impl_->request_on_state("chat_completion (and the turn's closing eos)", *state, ids,
                                int64_t{options.max_tokens} + static_cast<int64_t>(end.size()), gen));
    request.sampling = options;
    PCACHE_ASSIGN_OR_RETURN(SequenceResult answer,
                            impl_->execute(std::move(request), on_text, start, "eval_prompt", gen));

    // Close the turn with eos; the answer's last token is not in the sequence
    // yet (a token is fed only when the next one is asked for).
    const auto save_start = Clock::now();
    const int64_t turn_start = state->next_position() + static_cast<int64_t>(ids.size());
    const int64_t fed = answer.sequence->length() - state->length() - static_cast<int64_t>(ids.size());
    SequenceRequest closing(*impl_->pool);
    closing.context = std::move(*answer.sequence);
    closing.tokens.assign(gen.tokens.begin() + fed, gen.tokens.end());
    closing.tokens.insert(closing.tokens.end(), end.begin(), end.end());
    for (size_t i = 0; i < closing.tokens.size(); ++i) {
      closing.positions.push_back(turn_start + fed + static_cast<int64_t>(i));
    }
    closing.next_position = closing.positions.back() + 1;
    PCACHE_ASSIGN_OR_RETURN(std::shared_ptr<SavedState> next,
                            impl_->prefill_state(std::move(closing), state, state->plain,
                                                 state->cache_salt));
    next->sampler = answer.sampler;
    result.state = impl_->states->add(std::move(next), id);
    gen.steps.push_back({"save_state", ms_since(save_start), 0});
    return result;
  });
}

StatusOr<StateId> Engine::fork(StateId id) {
  PCACHE_ASSIGN_OR_RETURN(auto state, impl_->states->get(id));
  return impl_->states->add(state, id);
}

StatusOr<StateId> Engine::restore(StateId id) {
  PCACHE_RETURN_IF_ERROR(impl_->states->get(id).status());
  return id;
}

Status Engine::release(StateId id) { return impl_->states->release(id); }

StatusOr<StateInfo> Engine::state_info(StateId id) const { return impl_->states->info(id); }

StatusOr<std::vector<float>> Engine::next_token_logits(StateId id) const {
  return without_exceptions("next_token_logits", [&]() -> StatusOr<std::vector<float>> {
    PCACHE_ASSIGN_OR_RETURN(auto state, impl_->states->get(id));
    if (!state->last_logits.defined()) return std::vector<float>{};
    at::Tensor l = state->last_logits.to(at::kCPU, at::kFloat).contiguous();
    return std::vector<float>(l.data_ptr<float>(), l.data_ptr<float>() + l.numel());
  });
}

std::vector<StateInfo> Engine::states() const { return impl_->states->list(); }

StatusOr<Snapshot> Engine::Impl::snapshot_of_state(StateId id, const char* what) const {
  PCACHE_ASSIGN_OR_RETURN(auto state, states->get(id));
  if (!state->last_logits.defined()) {
    return Status::failed_precondition(std::string(what) + ": state " + std::to_string(id) +
                                       " has no logits yet (a prompt of modules only)");
  }
  return snapshot_of(*state, fingerprint);
}

StatusOr<StateId> Engine::Impl::add_loaded_state(const std::string& label, Snapshot snap,
                                                 uint64_t cache_salt) {
  const ModelConfig& c = model->config();
  if (static_cast<int64_t>(snap.k.size()) != c.num_layers || snap.k[0].size(0) != c.num_kv_heads ||
      snap.k[0].size(2) != c.head_dim || snap.last_logits.numel() != c.vocab_size) {
    return Status::corruption(label + ": shapes do not fit this model");
  }
  PCACHE_RETURN_IF_ERROR(check_loaded_state(label, snap, c));
  PCACHE_ASSIGN_OR_RETURN(std::shared_ptr<SavedState> state, state_of(snap, *pool));
  state->cache_salt = cache_salt;
  return states->add(std::move(state), 0);
}

Status Engine::save(StateId id, const std::string& path, bool int8) const {
  return without_exceptions("save", [&]() -> Status {
    PCACHE_ASSIGN_OR_RETURN(Snapshot snap, impl_->snapshot_of_state(id, "save"));
    return write_snapshot(path, snap, int8 ? SnapshotCompression::kInt8 : SnapshotCompression::kNone);
  });
}

StatusOr<StateId> Engine::load(const std::string& path, uint64_t cache_salt) {
  return without_exceptions("load", [&]() -> StatusOr<StateId> {
    PCACHE_ASSIGN_OR_RETURN(
        Snapshot snap, read_snapshot(path, impl_->fingerprint, impl_->model->device(),
                                     impl_->model->dtype()));
    return impl_->add_loaded_state(path, std::move(snap), cache_salt);
  });
}

namespace {

Status no_remote_tier(const char* what) {
  return Status::failed_precondition(std::string(what) +
                                     ": no remote tier (set --remote or cache.remote)");
}

}  // namespace

Status Engine::save_remote(StateId id, const std::string& name, bool int8,
                           uint64_t cache_salt) const {
  return without_exceptions("save_remote", [&]() -> Status {
    if (!impl_->remote) return no_remote_tier("save_remote");
    const std::string key =
        remote_state_key(tenant_of(cache_salt), impl_->fingerprint, name);
    PCACHE_ASSIGN_OR_RETURN(Snapshot snap, impl_->snapshot_of_state(id, "save_remote"));
    PCACHE_ASSIGN_OR_RETURN(
        std::string bytes,
        encode_snapshot(snap, int8 ? SnapshotCompression::kInt8 : SnapshotCompression::kNone,
                        "remote " + key));
    return impl_->remote->put(key, bytes);
  });
}

StatusOr<StateId> Engine::load_remote(const std::string& name, uint64_t cache_salt) {
  return without_exceptions("load_remote", [&]() -> StatusOr<StateId> {
    if (!impl_->remote) return no_remote_tier("load_remote");
    const std::string key =
        remote_state_key(tenant_of(cache_salt), impl_->fingerprint, name);
    const std::string label = "remote " + key;
    PCACHE_ASSIGN_OR_RETURN(TierValue bytes, impl_->remote->get(key));
    StatusOr<Snapshot> snap =
        decode_snapshot(bytes.view(), label, impl_->fingerprint, impl_->model->device(),
                        impl_->model->dtype());
    // A value the tier kept whole but that is no snapshot of this model is
    // removed, as a damaged one is.
    if (snap.status().code() == StatusCode::kCorruption) (void)impl_->remote->erase(key);
    PCACHE_RETURN_IF_ERROR(snap.status());
    return impl_->add_loaded_state(label, std::move(*snap), cache_salt);
  });
}

}  // namespace pcache
