// Engine: saved states (cache_prompt, completions, chat turns, fork, restore,
// release) and snapshot files.
#include <algorithm>

#include "pcache/engine.h"
#include "runtime/engine_impl.h"
#include "runtime/sampler.h"
#include "runtime/snapshot.h"

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
Snapshot snapshot_of(const SavedState& state, const LlamaModel& model,
                     const std::string& fingerprint) {
  KVCache cache = state.materialize(model.new_cache(1));
  Snapshot snap;
  snap.model_fingerprint = fingerprint;
  snap.tokens = state.all_tokens();
  snap.positions = state.all_positions();
  for (int64_t l = 0; l < cache.num_layers(); ++l) {
    snap.k.push_back(cache.keys(l)[0]);
    snap.v.push_back(cache.values(l)[0]);
  }
  snap.last_logits = state.last_logits.to(at::kCPU, at::kFloat);
  snap.open_system_turn = state.open_system_turn;
  if (state.next_position() != snap.positions.back() + 1) {
    snap.resume_position = state.next_position();
  }
  snap.sampler = state.sampler;
  return snap;
}

// `snap` (checked) as a state with no parent; its tensors are moved, not copied.
std::shared_ptr<SavedState> state_of(Snapshot snap, at::Device device) {
  auto state = std::make_shared<SavedState>();
  state->k = std::move(snap.k);
  state->v = std::move(snap.v);
  state->tokens = std::move(snap.tokens);
  state->positions = std::move(snap.positions);
  state->last_logits = snap.last_logits.to(device);
  state->open_system_turn = snap.open_system_turn;
  state->resume_position = snap.resume_position;
  state->sampler = snap.sampler;
  return state;
}

}  // namespace

// Chat turns one at a time, so that each turn extends the state before it.
// The system prompt opens the first instruction and the first user line
// continues it (docs/architecture.md, "Saved states").
struct ChatFormat {
  const Tokenizer& tok;
  ChatTemplate chat_template;

  StatusOr<std::vector<int>> control(const char* piece) const {
    auto id = tok.piece_to_id(piece);
    if (!id || !tok.is_control(*id)) {
      return Status::invalid_argument(std::string("the tokenizer has no ") + piece +
                                      " control token: use the llama2 chat template");
    }
    return std::vector<int>{*id};
  }
  // bos, then the system prompt (if any), left open for the first user line.
  StatusOr<std::vector<int>> start(const std::string& system) const {
    std::vector<int> ids = {tok.bos_id()};
    if (system.empty()) return ids;
    if (chat_template == ChatTemplate::kMistral) {
      PCACHE_ASSIGN_OR_RETURN(auto inst, control("[INST]"));
      return concat(concat(ids, inst), tok.encode(system + "\n\n"));
    }
    return concat(ids, tok.encode("[INST] <<SYS>>\n" + system + "\n<</SYS>>\n\n"));
  }
  StatusOr<std::vector<int>> user(const std::string& text, bool open_turn, bool first_turn) const {
    if (chat_template == ChatTemplate::kMistral) {
      PCACHE_ASSIGN_OR_RETURN(auto inst, control("[INST]"));
      PCACHE_ASSIGN_OR_RETURN(auto end, control("[/INST]"));
      return concat(concat(open_turn ? std::vector<int>{} : inst, tok.encode(text)), end);
    }
    if (open_turn) return tok.encode(text + " [/INST]");
    std::vector<int> ids = first_turn ? std::vector<int>{} : std::vector<int>{tok.bos_id()};
    return concat(ids, tok.encode("[INST] " + text + " [/INST]"));
  }
  std::vector<int> answer(const std::string& text) const {
    return concat(tok.encode(text), {tok.eos_id()});
  }
};

Status Engine::Impl::load_state(const char* what, const SavedState& state, size_t new_tokens,
                                int64_t max_tokens, Lease& lease, Generation& gen) const {
  PCACHE_RETURN_IF_ERROR(check_context(model->config(), what,
                                       state.next_position() + static_cast<int64_t>(new_tokens),
                                       max_tokens));
  const auto start = Clock::now();
  PCACHE_RETURN_IF_ERROR(
      open_cache(state.length() + static_cast<int64_t>(new_tokens) + max_tokens, lease));
  KVCache filled = state.materialize(std::move(*lease.cache));
  lease.cache.emplace(std::move(filled));
  gen.timings.assembly_ms = ms_since(start);
  gen.timings.cached_tokens = static_cast<int>(state.length());
  gen.timings.prompt_tokens = static_cast<int>(state.length() + new_tokens);
  gen.steps.push_back({"load_state", gen.timings.assembly_ms, gen.timings.cached_tokens});
  return Status::ok_status();
}

StatusOr<at::Tensor> Engine::Impl::extend(Lease& lease, const std::vector<int>& ids,
                                          int64_t first_position) const {
  std::vector<int64_t> tokens(ids.begin(), ids.end()), positions(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) positions[i] = first_position + static_cast<int64_t>(i);
  return forward_last(lease, tokens, positions);
}

StatusOr<CachedPrompt> Engine::Impl::prefill_new_state(const std::vector<int>& ids,
                                                       bool open_system_turn) {
  CachedPrompt out;
  auto start = Clock::now();
  PCACHE_RETURN_IF_ERROR(
      check_context(model->config(), "cache_prompt", static_cast<int64_t>(ids.size()), 0));
  Lease lease;
  PCACHE_RETURN_IF_ERROR(open_cache(static_cast<int64_t>(ids.size()), lease));
  const KVCache& cache = *lease.cache;
  out.steps.push_back({"reset", ms_since(start), 0});
  start = Clock::now();
  PCACHE_ASSIGN_OR_RETURN(at::Tensor logits, extend(lease, ids, 0));
  out.steps.push_back({"eval", ms_since(start), static_cast<int>(ids.size())});
  start = Clock::now();
  out.state =
      states->add(extend_state(nullptr, cache, 0, ids, logits, std::nullopt, open_system_turn), 0);
  out.steps.push_back({"save_state", ms_since(start), 0});
  out.tokens = static_cast<int>(ids.size());
  return out;
}

StatusOr<CachedPrompt> Engine::cache_prompt(const std::string& text) {
  PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, tokenizer());
  return impl_->prefill_new_state(concat({tok->bos_id()}, tok->encode(text)), false);
}

StatusOr<CachedPrompt> Engine::cache_chat(const std::vector<ChatMessage>& messages) {
  PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, tokenizer());
  ChatFormat format{*tok, impl_->chat_template};
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
    ids = concat(concat(ids, user), format.answer(messages[i + 1].content));
    open = first = false;
  }
  return impl_->prefill_new_state(ids, open);
}

StatusOr<CachedPrompt> Engine::cache_pml(const std::string& prompt_xml,
                                         const std::string& file_name) {
  if (!impl_->prompts) return tokenizer().status();
  PCACHE_ASSIGN_OR_RETURN(pml::Prompt prompt, pml::parse_prompt(prompt_xml, file_name));
  CachedPrompt out;
  auto start = Clock::now();
  PCACHE_ASSIGN_OR_RETURN(AssembledPrompt a, impl_->prompts->assemble(prompt, /*read_only=*/false,
                                                                      /*allow_empty=*/true));
  out.steps.push_back({"load_state", ms_since(start), static_cast<int>(a.cache_tokens.size())});
  start = Clock::now();
  // A prompt of modules only (a chat's context) has no logits until a turn comes.
  at::Tensor logits;
  const int64_t n = static_cast<int64_t>(a.tokens.size());
  if (n > 0) {
    PCACHE_ASSIGN_OR_RETURN(logits, impl_->model->forward_last(a.tokens, a.positions, a.cache));
  }
  out.steps.push_back({"eval", ms_since(start), static_cast<int>(n)});
  start = Clock::now();
  // The state's tokens follow the cache's order: the modules' tokens, then the computed ones.
  std::vector<int> tokens = a.cache_tokens;
  tokens.insert(tokens.end(), a.tokens.begin(), a.tokens.end());
  auto state = extend_state(nullptr, a.cache, 0, tokens, logits, std::nullopt, false);
  state->resume_position = a.next_position;
  out.state = impl_->states->add(std::move(state), 0);
  out.steps.push_back({"save_state", ms_since(start), 0});
  out.tokens = static_cast<int>(a.cache.length());
  return out;
}

StatusOr<Generation> Engine::text_completion(StateId id, const std::string& text,
                                             const SamplingOptions& options,
                                             const TextCallback& on_text) {
  PCACHE_RETURN_IF_ERROR(options.validate());
  PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, tokenizer());
  PCACHE_ASSIGN_OR_RETURN(auto state, impl_->states->get(id));
  const std::vector<int> ids = tok->encode(text);
  Generation gen;
  const auto start = Clock::now();
  Impl::Lease lease;
  PCACHE_RETURN_IF_ERROR(
      impl_->load_state("text_completion", *state, ids.size(), options.max_tokens, lease, gen));
  at::Tensor logits = state->last_logits;
  if (ids.empty() && !logits.defined()) {
    return Status::invalid_argument(
        "text_completion: state " + std::to_string(id) +
        " has no logits yet (a prompt of modules only): give some text");
  }
  const auto prefill_start = Clock::now();
  if (!ids.empty()) {
    PCACHE_ASSIGN_OR_RETURN(logits, impl_->extend(lease, ids, state->next_position()));
  }
  gen.timings.prefill_ms = ms_since(prefill_start);
  gen.steps.push_back({"eval_prompt", gen.timings.prefill_ms, static_cast<int>(ids.size())});
  PCACHE_RETURN_IF_ERROR(impl_
                             ->decode(lease, logits,
                                      state->next_position() + static_cast<int64_t>(ids.size()),
                                      options, state->sampler, on_text, start, gen)
                             .status());
  return gen;
}

StatusOr<std::vector<Generation>> Engine::text_completion(StateId id,
                                                          const std::vector<std::string>& inputs,
                                                          const SamplingOptions& options) {
  PCACHE_RETURN_IF_ERROR(options.validate());
  PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, tokenizer());
  PCACHE_ASSIGN_OR_RETURN(auto state, impl_->states->get(id));
  if (inputs.empty()) return std::vector<Generation>{};
  const LlamaModel& model = *impl_->model;
  const int64_t b = static_cast<int64_t>(inputs.size());
  std::vector<std::vector<int>> ids;
  int64_t longest = 1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ids.push_back(tok->encode(inputs[i]));
    if (ids.back().empty())
      return Status::invalid_argument("text_completion: input " + std::to_string(i) + " is empty");
    longest = std::max<int64_t>(longest, static_cast<int64_t>(ids.back().size()));
  }
  PCACHE_RETURN_IF_ERROR(check_context(model.config(), "text_completion",
                                       state->next_position() + longest, options.max_tokens));
  const auto start = Clock::now();
  KVCache cache = state->materialize(model.new_cache(b));
  const double load_ms = ms_since(start);
  const int64_t p = cache.length(), first = state->next_position();

  // Inputs padded at the end to the longest; padding is masked out of every
  // later step, so each row computes exactly what it would alone.
  std::vector<int64_t> tokens(b * longest), positions(b * longest);
  at::Tensor valid = at::ones({b, p + longest}, at::kBool);  // entries each row may attend to
  for (int64_t r = 0; r < b; ++r) {
    const int64_t n = static_cast<int64_t>(ids[r].size());
    for (int64_t j = 0; j < longest; ++j) {
      tokens[r * longest + j] = ids[r][std::min(j, n - 1)];
      positions[r * longest + j] = first + j;
    }
    valid[r].narrow(0, p + n, longest - n).fill_(false);
  }
  at::Tensor causal = at::ones({longest, longest}, at::kBool).tril();
  at::Tensor mask =
      at::cat({at::ones({longest, p}, at::kBool), causal}, 1).unsqueeze(0).repeat({b, 1, 1});
  mask = mask.logical_and(valid.unsqueeze(1));
  const auto prefill_start = Clock::now();
  ForwardOptions o;
  o.mask = mask;
  PCACHE_ASSIGN_OR_RETURN(
      at::Tensor logits,
      model.forward(at::tensor(tokens, at::kLong).view({b, longest}),
                    at::tensor(positions, at::kLong).view({b, longest}), cache, o));
  const double prefill_ms = ms_since(prefill_start);

  const ModelConfig& config = model.config();
  std::vector<Generation> gens(b);
  std::vector<Sampler> samplers(b, Sampler(options, state->sampler));
  std::vector<TokenStreamDecoder> streams(b, TokenStreamDecoder(*tok));
  std::vector<int> next(b);
  std::vector<int64_t> next_pos(b);
  std::vector<bool> done(b, false);
  const auto sample_start = Clock::now();
  for (int64_t r = 0; r < b; ++r) {
    const int64_t n = static_cast<int64_t>(ids[r].size());
    next[r] = samplers[r].sample(logits[r][n - 1]);
    next_pos[r] = first + n;
    gens[r].timings.prompt_tokens = static_cast<int>(p + n);
    gens[r].timings.cached_tokens = static_cast<int>(p);
    gens[r].timings.assembly_ms = load_ms;
    gens[r].timings.prefill_ms = prefill_ms;
    gens[r].timings.first_token_ms = ms_since(start);
  }
  auto is_eos = [&](int t) {
    return std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), t) !=
           config.eos_token_ids.end();
  };
  const auto decode_start = Clock::now();
  for (;;) {
    bool all_done = true;
    for (int64_t r = 0; r < b; ++r) {
      if (done[r]) continue;
      if (options.stop_at_eos && is_eos(next[r])) {
        gens[r].stop_reason = StopReason::kEos;
        done[r] = true;
        continue;
      }
      gens[r].tokens.push_back(next[r]);
      gens[r].text += streams[r].push(next[r]);
      if (static_cast<int>(gens[r].tokens.size()) >= options.max_tokens) {
        gens[r].stop_reason = StopReason::kMaxTokens;
        done[r] = true;
        continue;
      }
      all_done = false;
    }
    if (all_done) break;
    std::vector<int64_t> step_tokens(next.begin(), next.end());
    valid = at::cat({valid, at::ones({b, 1}, at::kBool)}, 1);
    ForwardOptions step;
    step.mask = valid.unsqueeze(1);  // [B, 1, S]
    PCACHE_ASSIGN_OR_RETURN(
        at::Tensor out, model.forward(at::tensor(step_tokens, at::kLong).view({b, 1}),
                                      at::tensor(next_pos, at::kLong).view({b, 1}), cache, step));
    for (int64_t r = 0; r < b; ++r) {
      ++next_pos[r];
      if (!done[r]) next[r] = samplers[r].sample(out[r][0]);
    }
  }
  const double decode_ms = ms_since(decode_start);
  for (int64_t r = 0; r < b; ++r) {
    gens[r].text += streams[r].flush();
    gens[r].timings.generated_tokens = static_cast<int>(gens[r].tokens.size());
    gens[r].timings.decode_ms = decode_ms;
    gens[r].steps = {{"load_state", load_ms, static_cast<int>(p)},
                     {"eval_prompt", prefill_ms, static_cast<int>(ids[r].size())},
                     {"sample", ms_since(sample_start), gens[r].timings.generated_tokens}};
  }
  return gens;
}

StatusOr<ChatResult> Engine::chat_completion(StateId id, const std::string& user_turn,
                                             const SamplingOptions& options,
                                             const TextCallback& on_text) {
  return chat_completion(id, std::vector<ChatMessage>{{"user", user_turn}}, options, on_text);
}

StatusOr<ChatResult> Engine::chat_completion(StateId id, const std::vector<ChatMessage>& messages,
                                             const SamplingOptions& options,
                                             const TextCallback& on_text) {
  PCACHE_RETURN_IF_ERROR(options.validate());
  PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, tokenizer());
  PCACHE_ASSIGN_OR_RETURN(auto state, impl_->states->get(id));
  if (messages.empty() || messages.back().role != "user") {
    return Status::invalid_argument("chat_completion: the last message must be a user turn");
  }
  ChatFormat format{*tok, impl_->chat_template};
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
      ids = concat(ids, format.answer(m.content));
    }
  }
  ChatResult result;
  Generation& gen = result.generation;
  const auto start = Clock::now();
  Impl::Lease lease;
  // Room for the closing eos too.
  PCACHE_RETURN_IF_ERROR(impl_->load_state("chat_completion (and the turn's closing eos)", *state,
                                           ids.size(), int64_t{options.max_tokens} + 1, lease,
                                           gen));
  KVCache& cache = *lease.cache;
  const auto prefill_start = Clock::now();
  int64_t pos = state->next_position();
  PCACHE_ASSIGN_OR_RETURN(at::Tensor logits, impl_->extend(lease, ids, pos));
  pos += static_cast<int64_t>(ids.size());
  gen.timings.prefill_ms = ms_since(prefill_start);
  gen.steps.push_back({"eval_prompt", gen.timings.prefill_ms, static_cast<int>(ids.size())});
  PCACHE_ASSIGN_OR_RETURN(SamplerState sampler, impl_->decode(lease, logits, pos, options,
                                                              state->sampler, on_text, start, gen));

  // Close the turn with eos; the answer's last token may not be in the cache
  // yet (decoding stops before feeding it when the budget runs out).
  const auto save_start = Clock::now();
  const int64_t fed = cache.length() - state->length() - static_cast<int64_t>(ids.size());
  pos = state->next_position() + static_cast<int64_t>(ids.size()) + fed;
  std::vector<int> closing(gen.tokens.begin() + fed, gen.tokens.end());
  closing.push_back(tok->eos_id());
  PCACHE_ASSIGN_OR_RETURN(at::Tensor last, impl_->extend(lease, closing, pos));
  std::vector<int> turn = concat(concat(ids, gen.tokens), {tok->eos_id()});
  result.state = impl_->states->add(extend_state(state, cache, state->length(), turn, last,
                                                 sampler, /*open_system_turn=*/false),
                                    id);
  gen.steps.push_back({"save_state", ms_since(save_start), 0});
  return result;
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
  PCACHE_ASSIGN_OR_RETURN(auto state, impl_->states->get(id));
  if (!state->last_logits.defined()) return std::vector<float>{};
  at::Tensor l = state->last_logits.to(at::kCPU, at::kFloat).contiguous();
  return std::vector<float>(l.data_ptr<float>(), l.data_ptr<float>() + l.numel());
}

std::vector<StateInfo> Engine::states() const { return impl_->states->list(); }

Status Engine::save(StateId id, const std::string& path, bool int8) const {
  PCACHE_ASSIGN_OR_RETURN(auto state, impl_->states->get(id));
  if (!state->last_logits.defined()) {
    return Status::failed_precondition("save: state " + std::to_string(id) +
                                       " has no logits yet (a prompt of modules only)");
  }
  return write_snapshot(path, snapshot_of(*state, *impl_->model, impl_->checkpoint->fingerprint()),
                        int8 ? SnapshotCompression::kInt8 : SnapshotCompression::kNone);
}

StatusOr<StateId> Engine::load(const std::string& path) {
  PCACHE_ASSIGN_OR_RETURN(
      Snapshot snap, read_snapshot(path, impl_->checkpoint->fingerprint(), impl_->model->device(),
                                   impl_->model->dtype()));
  const ModelConfig& c = impl_->model->config();
  if (static_cast<int64_t>(snap.k.size()) != c.num_layers || snap.k[0].size(0) != c.num_kv_heads ||
      snap.k[0].size(2) != c.head_dim || snap.last_logits.numel() != c.vocab_size) {
    return Status::corruption(path + ": shapes do not fit this model");
  }
  PCACHE_RETURN_IF_ERROR(check_loaded_state(path, snap, c));
  return impl_->states->add(state_of(std::move(snap), impl_->model->device()), 0);
}

}  // namespace pcache
