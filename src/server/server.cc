#include "server/server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <vector>

#include "server/admission.h"
#include "server/api_error.h"
#include "server/api_keys.h"
#include "server/generation_request.h"
#include "server/metrics.h"
#include "server/request_log.h"
#include "util/stop_matcher.h"

namespace pcache::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string dump(const json& j) {
  // Invalid UTF-8 cannot come from a parsed body; model text can hold a
  // broken character at a stop, which is replaced rather than thrown on.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

const char* finish_reason(const Generation& g, bool stopped_by_string) {
  if (stopped_by_string || g.stop_reason == StopReason::kEos) return "stop";
  return "length";
}

// "st-12" <-> 12.
std::string state_name(StateId id) { return "st-" + std::to_string(id); }
std::optional<StateId> state_id(const std::string& name) {
  static const std::regex kForm("st-([0-9]{1,19})");
  std::smatch m;
  if (!std::regex_match(name, m, kForm)) return std::nullopt;
  try {
    return std::stoull(m[1]);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// A snapshot's name: a file name in the state folder, never a path.
bool valid_snapshot_name(const std::string& name) {
  static const std::regex kForm("[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}");
  return std::regex_match(name, kForm);
}

// What a request's generations gave, whichever engine calls made them: one
// per choice (n), each accounted as the request's own (prompt and cached
// tokens, modules).
struct Executed {
  std::vector<Generation> generations;
  std::string state;  // save_state: the new state's id
};

// "n" at most (also at most max_concurrent): each choice is a sequence and a thread.
constexpr int kMaxChoices = 16;

// One answer of a request ("n" of them), index i.
struct Choice {
  explicit Choice(const std::vector<std::string>& stop) : stops(stop) {}
  StopMatcher stops;  // used on its generation's thread only
  std::string text;   // the answer, stop strings cut off
  bool stopped_by_string = false;
};

// One generation request in progress. The generation may outlive the HTTP
// exchange (a stream whose client left ends at its next token), so the job
// is shared by the handler, the stream writer and the generation.
struct Job {
  GenerationRequest request;
  Tenant tenant;
  std::shared_ptr<Admission::Ticket> ticket;
  RequestRecord record;
  Clock::time_point start;
  std::string id;  // "chatcmpl-7" / "cmpl-7"
  int64_t created = 0;

  std::mutex mu;
  std::condition_variable changed;
  std::deque<std::pair<int, std::string>> pieces;  // (choice, text) streamed, not yet written
  bool started = false;                            // a token came
  bool done = false;
  std::optional<ApiError> error;
  Executed result;
  std::vector<Choice> choices;  // request.n
  std::atomic<bool> client_gone{false};

  explicit Job(GenerationRequest r)
      : request(std::move(r)), choices(request.n, Choice(request.stop)) {}
};

}  // namespace

struct Server::Impl {
  Impl(Engine& e, const ServerOptions& o, const std::string& name, const SamplingOptions& d)
      : engine(e),
        defaults(d),
        options(o),
        model_name(o.model_name.empty() ? name : o.model_name),
        keys(o.api_keys, o.shared_cache),
        admission(static_cast<int64_t>(o.max_concurrent) + o.max_queue),
        log(o.log_format == "json" ? LogFormat::kJson : LogFormat::kText, stderr),
        created(std::time(nullptr)) {}

  Engine& engine;
  const SamplingOptions defaults;  // of every request, for what it does not set
  const ServerOptions options;
  const std::string model_name;
  const ApiKeys keys;
  Admission admission;
  Metrics metrics;
  RequestLog log;
  const int64_t created;
  httplib::Server http;
  // Threads of the generations, reused; as many as requests can be
  // admitted, so that a generation never waits for one.
  std::unique_ptr<httplib::ThreadPool> generators;
  int bound_port = -1;
  std::atomic<bool> draining{false};
  std::atomic<bool> cancel_all{false};
  std::atomic<uint64_t> next_request{1};

  // Saved states by owner (their tenant's cache salt): a tenant sees only
  // its own. Ids the engine evicted are dropped when met.
  std::mutex states_mu;
  std::map<StateId, uint64_t> state_owner;

  // Schemas registered, with their compile reports (GET /v1/schemas), by
  // owner (the tenant's cache salt; 0: loaded at start, or the shared cache)
  // and name. A tenant sees its own and the shared ones.
  std::mutex schemas_mu;
  std::map<std::pair<uint64_t, std::string>, json> schemas;

  // --- One HTTP exchange ---
  struct Call {
    RequestRecord record;
    Clock::time_point start = Clock::now();
    Tenant tenant;
    std::shared_ptr<Admission::Ticket> ticket;
  };

  void finish(Call& call, int status, const std::string& error = "") {
    call.record.status = status;
    call.record.error = error;
    call.record.total_ms = ms_since(call.start);
    log.write(call.record);
    metrics.record(call.record);
  }

  void reply(Call& call, httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(dump(body), "application/json");
    finish(call, status);
  }

  void reply_error(Call& call, httplib::Response& res, const ApiError& e) {
    send_error(res, e);
    finish(call, e.status, e.message);
  }

  void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    if (e.status == 429 || e.status == 503) {
      res.set_header("Retry-After", std::to_string(options.retry_after_s));
    }
    res.set_content(dump(e.to_json()), "application/json");
  }

  // Authenticates and, for work that runs the model, admits the request.
  // Null when it was answered already (401, 429, 503).
  std::unique_ptr<Call> begin(const httplib::Request& req, httplib::Response& res,
                              const std::string& endpoint, bool admit) {
    auto call = std::make_unique<Call>();
    call->record.endpoint = endpoint;
    call->record.id = "req-" + std::to_string(next_request++);
    call->record.method = req.method;
    call->record.path = req.path;
    res.set_header("X-Request-Id", call->record.id);
    auto tenant = keys.authenticate(req.get_header_value("Authorization"));
    if (!tenant) {
      call->record.tenant = "-";
      reply_error(*call, res,
                  {401, "", "missing or wrong API key: send \"Authorization: Bearer KEY\""});
      return nullptr;
    }
    call->tenant = *tenant;
    call->record.tenant = tenant->label;
    if (draining) {
      reply_error(*call, res, {503, "", "the server is shutting down"});
      return nullptr;
    }
    if (admit) {
      call->ticket = admission.try_enter();
      if (!call->ticket) {
        reply_error(*call, res,
                    {429, "", "too many requests: " + std::to_string(options.max_concurrent) +
                                  " running and " + std::to_string(options.max_queue) +
                                  " waiting at most; retry later"});
        return nullptr;
      }
    }
    return call;
  }

  // --- Saved states ---
  void own(StateId id, uint64_t salt) {
    std::vector<StateInfo> live = engine.states();  // most recently used first
    std::vector<StateId> over;  // the owner's least recently used beyond its share
    std::lock_guard<std::mutex> lock(states_mu);
    state_owner[id] = salt;
    if (options.max_states_per_key > 0 && salt != 0) {
      int kept = 1;  // `id`
      for (const StateInfo& s : live) {
        auto it = state_owner.find(s.id);
        if (s.id == id || it == state_owner.end() || it->second != salt) continue;
        if (++kept > options.max_states_per_key) over.push_back(s.id);
      }
      for (StateId old : over) {
        (void)engine.release(old);
        state_owner.erase(old);
      }
    }
    // Forget the ids the engine evicted, so that the table stays as small as
    // the engine's (max_states).
    if (state_owner.size() > 2 * live.size() + 16) {
      std::map<StateId, uint64_t> kept;
      for (const StateInfo& s : live) {
        auto it = state_owner.find(s.id);
        if (it != state_owner.end()) kept.insert(*it);
      }
      kept[id] = salt;
      state_owner.swap(kept);
    }
  }

  // The tenant's state of that name, or a 404 that does not tell another
  // tenant's state from a missing one.
  std::variant<StateId, ApiError> owned_state(const std::string& name, const Tenant& tenant,
                                              const std::string& param) {
    auto id = state_id(name);
    std::lock_guard<std::mutex> lock(states_mu);
    if (id) {
      auto it = state_owner.find(*id);
      if (it != state_owner.end() && it->second == tenant.cache_salt) return *id;
    }
    return ApiError{404, param, param + ": no state \"" + name + "\" (unknown, deleted or evicted)"};
  }

  void release_state(StateId id) {
    (void)engine.release(id);
    std::lock_guard<std::mutex> lock(states_mu);
    state_owner.erase(id);
  }

  // --- Generation ---
  StatusOr<std::vector<int>> prompt_ids(const GenerationRequest& r) const {
    PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, engine.tokenizer());
    std::vector<int> ids;
    if (r.endpoint == Endpoint::kChat) {
      PCACHE_ASSIGN_OR_RETURN(ids, tok->apply_chat_template(r.messages, engine.chat_template(),
                                                            /*add_generation_prompt=*/true));
    } else if (!r.prompt_ids.empty()) {
      ids = r.prompt_ids;
    } else {
      ids = tok->bos_ids();
      const std::vector<int> text = tok->encode(r.prompt);
      ids.insert(ids.end(), text.begin(), text.end());
    }
    if (options.max_prompt_tokens > 0 && static_cast<int64_t>(ids.size()) > options.max_prompt_tokens) {
      return Status::invalid_argument("the prompt has " + std::to_string(ids.size()) +
                                      " tokens, more than this server's limit of " +
                                      std::to_string(options.max_prompt_tokens));
    }
    return ids;
  }

  // The callback of choice i's text.
  using Callbacks = std::function<TextCallback(int)>;

  // Runs the request on whichever engine call fits it; errors as ApiError.
  std::variant<Executed, ApiError> execute(const GenerationRequest& r, const Tenant& tenant,
                                           const Callbacks& callbacks) {
    if (r.n > 1) return execute_choices(r, tenant, callbacks);
    const TextCallback on_text = callbacks(0);
    const bool chat = r.endpoint == Endpoint::kChat;
    const std::string text_param = chat ? "messages" : "prompt";
    Executed out;
    out.generations.resize(1);
    if (!r.pml.empty()) {
      RunOptions run;
      run.sampling = r.sampling;  // its cache_salt: the tenant's schemas, then the shared ones
      run.encoding = r.encoding;
      auto g = engine.run(r.pml, run, on_text, "pml");
      if (!g.ok()) {
        ApiError e = from_status(g.status(), "pml");
        if (e.status == 404) e.status = 400;  // an unknown schema or module: the prompt is wrong
        return e;
      }
      out.generations[0] = std::move(*g);
      return out;
    }
    if (!r.state.empty()) {
      auto owned = owned_state(r.state, tenant, "state");
      if (auto* e = std::get_if<ApiError>(&owned)) return *e;
      const StateId id = std::get<StateId>(owned);
      if (!chat) {
        auto g = engine.text_completion(id, r.prompt, r.sampling, on_text);
        if (!g.ok()) return from_status(g.status(), "state");
        out.generations[0] = std::move(*g);
        return out;
      }
      auto turn = engine.chat_completion(id, r.messages, r.sampling, on_text);
      if (!turn.ok()) return from_status(turn.status(), "messages");
      return keep_turn(std::move(*turn), r.save_state, tenant);
    }
    if (chat && r.save_state) {
      // The conversation before the last line becomes a state (its prefix
      // reused from the cache where it can be), then the line is a turn on it.
      const auto caching = Clock::now();
      const std::vector<ChatMessage> head(r.messages.begin(), r.messages.end() - 1);
      auto cached = engine.cache_chat(head, tenant.cache_salt);
      if (!cached.ok()) return from_status(cached.status(), "messages");
      auto turn = engine.chat_completion(cached->state, {r.messages.back()}, r.sampling, on_text);
      (void)engine.release(cached->state);
      if (!turn.ok()) return from_status(turn.status(), "messages");
      const StepTiming& first = cached->steps.front();
      turn->generation.timings.cached_tokens = first.step == "load_state" ? first.tokens : 0;
      count_before_first_token(turn->generation, ms_since(caching));
      return keep_turn(std::move(*turn), true, tenant);
    }
    const auto tokenizing = Clock::now();
    auto ids = prompt_ids(r);
    if (!ids.ok()) return from_status(ids.status(), text_param);
    const double tokenize_ms = ms_since(tokenizing);
    auto g = engine.generate_tokens(*ids, r.sampling, on_text);
    if (!g.ok()) return from_status(g.status(), text_param);
    count_before_first_token(*g, tokenize_ms);
    out.generations[0] = std::move(*g);
    return out;
  }

  // The engine's times count from the call that generates; engine work the
  // server does first for the same request (tokenizing the prompt to check
  // its limit: milliseconds for a long chat template; prefilling the state
  // that n choices or a saved conversation continue from) comes before the
  // first token too.
  static void count_before_first_token(Generation& g, double ms) {
    g.timings.first_token_ms += ms;
    if (!g.text.empty()) g.timings.first_text_ms += ms;
  }

  // n > 1: the prompt is prefilled once into a state (or is a state already)
  // and every choice continues from it, sharing its blocks, choice i
  // sampling with seed + i, all at once (the scheduler batches them).
  std::variant<Executed, ApiError> execute_choices(const GenerationRequest& r, const Tenant& tenant,
                                                   const Callbacks& callbacks) {
    const bool chat = r.endpoint == Endpoint::kChat;
    const auto preparing = Clock::now();
    std::string param = r.pml.empty() ? (chat ? "messages" : "prompt") : "pml";
    StateId base = 0;
    std::optional<CachedPrompt> prefill;
    if (!r.state.empty()) {
      auto owned = owned_state(r.state, tenant, "state");
      if (auto* e = std::get_if<ApiError>(&owned)) return *e;
      base = std::get<StateId>(owned);
    } else {
      StatusOr<CachedPrompt> cached = Status::internal("not run");
      if (!r.pml.empty()) {
        cached = engine.cache_pml(r.pml, "pml", tenant.cache_salt, r.encoding);
      } else {
        auto ids = prompt_ids(r);
        if (!ids.ok()) return from_status(ids.status(), param);
        cached = engine.cache_tokens(*ids, tenant.cache_salt);
      }
      if (!cached.ok()) {
        ApiError e = from_status(cached.status(), param);
        if (e.status == 404) e.status = 400;  // an unknown schema or module: the prompt is wrong
        return e;
      }
      prefill = std::move(*cached);
      base = prefill->state;
    }
    const double prepare_ms = ms_since(preparing);
    std::vector<std::future<StatusOr<Generation>>> runs;
    for (int i = 0; i < r.n; ++i) {
      SamplingOptions sampling = r.sampling;
      sampling.seed += static_cast<uint64_t>(i);
      runs.push_back(std::async(std::launch::async, [&, i, sampling]() -> StatusOr<Generation> {
        if (!chat || r.state.empty()) {
          return engine.text_completion(base, r.state.empty() ? "" : r.prompt, sampling,
                                        callbacks(i));
        }
        PCACHE_ASSIGN_OR_RETURN(ChatResult turn,
                                engine.chat_completion(base, r.messages, sampling, callbacks(i)));
        (void)engine.release(turn.state);
        return std::move(turn.generation);
      }));
    }
    Executed out;
    std::optional<ApiError> error;
    for (auto& run : runs) {
      StatusOr<Generation> g = run.get();
      if (!g.ok() && !error) error = from_status(g.status(), r.state.empty() ? param : "state");
      if (g.ok()) {
        count_before_first_token(*g, prepare_ms);
        out.generations.push_back(std::move(g).value());
      }
    }
    if (prefill) (void)engine.release(prefill->state);
    if (error) return *error;
    if (prefill) {
      // Each choice's prompt is the request's: what the prefill reused and computed.
      const StepTiming& first = prefill->steps.front();
      for (Generation& g : out.generations) {
        g.timings.prompt_tokens = prefill->tokens;
        g.timings.cached_tokens = first.step == "load_state" ? first.tokens : 0;
        g.reused_modules = prefill->reused_modules;
        g.encoded_modules = prefill->encoded_modules;
        g.timings.modules_reused = static_cast<int>(g.reused_modules.size());
        g.timings.modules_encoded = static_cast<int>(g.encoded_modules.size());
      }
    }
    return out;
  }

  Executed keep_turn(ChatResult turn, bool save, const Tenant& tenant) {
    Executed out;
    out.generations.push_back(std::move(turn.generation));
    if (save) {
      own(turn.state, tenant.cache_salt);
      out.state = state_name(turn.state);
    } else {
      (void)engine.release(turn.state);
    }
    return out;
  }

  // Runs a job to its end on this thread, then logs it.
  void run(const std::shared_ptr<Job>& job) {
    Callbacks callbacks = [this, job](int i) -> TextCallback {
      return [this, job, i](const std::string& piece) {
        Choice& c = job->choices[i];
        const std::string shown = c.stops.push(piece);
        {
          std::lock_guard<std::mutex> lock(job->mu);
          c.text += shown;
          if (job->request.stream && !shown.empty()) job->pieces.push_back({i, shown});
          job->started = true;
        }
        job->changed.notify_all();
        return !c.stops.stopped() && !job->client_gone && !cancel_all;
      };
    };
    auto executed = execute(job->request, job->tenant, callbacks);
    {
      std::lock_guard<std::mutex> lock(job->mu);
      if (auto* e = std::get_if<ApiError>(&executed)) {
        job->error = *e;
      } else {
        job->result = std::move(std::get<Executed>(executed));
      }
      for (int i = 0; i < static_cast<int>(job->choices.size()); ++i) {
        Choice& c = job->choices[i];
        const std::string rest = c.stops.flush();
        c.text += rest;
        if (job->request.stream && !rest.empty()) job->pieces.push_back({i, rest});
        c.stopped_by_string = c.stops.stopped();
      }
      job->done = true;
    }
    job->changed.notify_all();
  }

  // The request's usage: its prompt once, every choice's tokens.
  json usage(const Job& job) const {
    const auto& gens = job.result.generations;
    const GenerationTimings& t = gens.front().timings;
    int completion = 0;
    for (const Generation& g : gens) completion += g.timings.generated_tokens;
    return {{"prompt_tokens", t.prompt_tokens},
            {"completion_tokens", completion},
            {"total_tokens", t.prompt_tokens + completion},
            {"prompt_tokens_details", {{"cached_tokens", t.cached_tokens}}}};
  }

  // pcache's own fields: which state to continue, what the module cache did.
  json extension(const Job& job) const {
    // The modules' paths ("" is the schema's own text), as the engine took
    // them from the cache or encoded them for this request.
    const Generation& g = job.result.generations.front();
    // ttft_ms and first_text_ms: the engine's own times to the first token
    // and to its first text (a token may decode to none until the next one
    // comes), which a client compares with the time it saw the first text to
    // see the HTTP overhead (bench/serve_load).
    json x = {{"modules_reused", g.reused_modules},
              {"modules_encoded", g.encoded_modules},
              {"ttft_ms", g.timings.first_token_ms},
              {"first_text_ms", g.timings.first_text_ms}};
    if (!job.result.state.empty()) x["state"] = job.result.state;
    return x;
  }

  json response(const Job& job) const {
    const bool chat = job.request.endpoint == Endpoint::kChat;
    json choices = json::array();
    for (size_t i = 0; i < job.choices.size(); ++i) {
      const Choice& c = job.choices[i];
      json choice = {
          {"index", i},
          {"finish_reason", finish_reason(job.result.generations[i], c.stopped_by_string)},
          {"logprobs", nullptr}};
      if (chat) {
        choice["message"] = {{"role", "assistant"}, {"content", c.text}};
      } else {
        choice["text"] = c.text;
      }
      choices.push_back(std::move(choice));
    }
    return {{"id", job.id},
            {"object", chat ? "chat.completion" : "text_completion"},
            {"created", job.created},
            {"model", model_name},
            {"choices", std::move(choices)},
            {"usage", usage(job)},
            {"pcache", extension(job)}};
  }

  // One server-sent event.
  static std::string event(const json& data) { return "data: " + dump(data) + "\n\n"; }

  json chunk(const Job& job, int index, const json& delta_or_text, const json& reason) const {
    const bool chat = job.request.endpoint == Endpoint::kChat;
    json choice = {{"index", index}, {"finish_reason", reason}, {"logprobs", nullptr}};
    if (chat) {
      choice["delta"] = delta_or_text;
    } else {
      choice["text"] = delta_or_text;
    }
    json c = {{"id", job.id},
              {"object", chat ? "chat.completion.chunk" : "text_completion"},
              {"created", job.created},
              {"model", model_name},
              {"choices", json::array({choice})}};
    return c;
  }

  void log_job(Job& job, int status) {
    static const Generation kNone;  // an error before any generation
    const Generation& g = job.result.generations.empty() ? kNone : job.result.generations.front();
    RequestRecord& r = job.record;
    r.status = status;
    r.prompt_tokens = g.timings.prompt_tokens;
    r.cached_tokens = g.timings.cached_tokens;
    r.generated_tokens = 0;
    for (const Generation& each : job.result.generations)
      r.generated_tokens += each.timings.generated_tokens;
    r.ttft_ms = g.timings.generated_tokens > 0 ? g.timings.first_token_ms : -1;
    r.time_per_token_ms = g.timings.generated_tokens > 1
                              ? g.timings.decode_ms / (g.timings.generated_tokens - 1)
                              : -1;
    r.total_ms = ms_since(job.start);
    r.cancelled = job.client_gone || (cancel_all && g.stop_reason == StopReason::kCallback &&
                                      !job.choices.front().stopped_by_string);
    if (job.error) r.error = job.error->message;
    log.write(r);
    metrics.record(r);
  }

  void generation(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
    auto call = begin(req, res, req.path, /*admit=*/true);
    if (!call) return;
    RequestLimits limits;
    limits.defaults = defaults;
    limits.max_tokens_limit = options.max_tokens_limit;
    limits.max_n = std::min(kMaxChoices, options.max_concurrent);
    auto parsed = parse_generation_request(req.body, endpoint, limits);
    if (auto* e = std::get_if<ApiError>(&parsed)) return reply_error(*call, res, *e);
    GenerationRequest& r = std::get<GenerationRequest>(parsed);
    if (!r.model.empty() && r.model != model_name) {
      return reply_error(*call, res, {404, "model", "model: \"" + r.model + "\" is not served here (" +
                                                        model_name + " is; GET /v1/models)"});
    }
    r.sampling.cache_salt = call->tenant.cache_salt;
    auto job = std::make_shared<Job>(std::move(r));
    job->tenant = call->tenant;
    job->ticket = call->ticket;
    job->record = call->record;
    job->start = call->start;
    const std::string serial = call->record.id.substr(4);
    job->id = (endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-") + serial;
    job->created = std::time(nullptr);
    // The generation runs on a thread of the generators' pool, and the
    // answer's status waits for its first token, so that an error found
    // before it (a bad PML prompt, an unknown state, a prompt too long) is a
    // 4xx. The body is then written as it comes: server-sent events, or the
    // JSON after blank heartbeats, so that a client that left is seen
    // either way and its generation cancelled.
    generators->enqueue([this, job] {
      run(job);
      log_job(*job, job->error && !job->started ? job->error->status : 200);
    });
    {
      std::unique_lock<std::mutex> lock(job->mu);
      job->changed.wait(lock, [&] { return job->started || job->done; });
      if (job->error && !job->started) return send_error(res, *job->error);
    }
    auto left = [job](bool success) {
      if (!success) job->client_gone = true;
    };
    if (!job->request.stream) {
      res.set_chunked_content_provider(
          "application/json", [this, job](size_t, httplib::DataSink& sink) { return whole(*job, sink); },
          left);
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, job](size_t, httplib::DataSink& sink) { return stream(*job, sink); }, left);
  }

  // Writes a blank every kHeartbeat until the answer is done (JSON allows
  // leading whitespace; a failed write means the client left), then the
  // answer. False when the client left.
  bool whole(Job& job, httplib::DataSink& sink) {
    static constexpr auto kHeartbeat = std::chrono::milliseconds(250);
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(job.mu);
        if (job.changed.wait_for(lock, kHeartbeat, [&] { return job.done; })) break;
      }
      if (!sink.write(" ", 1)) {
        job.client_gone = true;
        return false;
      }
    }
    // An error after the first token (rare: the engine failing mid-way) can
    // no longer change the status; it is the body.
    const std::string body = dump(job.error ? job.error->to_json() : response(job));
    if (!sink.write(body.data(), body.size())) {
      job.client_gone = true;
      return false;
    }
    sink.done();
    return true;
  }

  // Writes the whole stream; false when the client left.
  bool stream(Job& job, httplib::DataSink& sink) {
    auto write = [&](const std::string& s) {
      if (job.client_gone || !sink.write(s.data(), s.size())) {
        job.client_gone = true;
        return false;
      }
      return true;
    };
    const bool chat = job.request.endpoint == Endpoint::kChat;
    const int n = static_cast<int>(job.choices.size());
    for (int i = 0; chat && i < n; ++i) {
      if (!write(event(chunk(job, i, {{"role", "assistant"}, {"content", ""}}, nullptr))))
        return false;
    }
    for (;;) {
      std::deque<std::pair<int, std::string>> pieces;
      bool done;
      {
        std::unique_lock<std::mutex> lock(job.mu);
        job.changed.wait(lock, [&] { return !job.pieces.empty() || job.done; });
        pieces.swap(job.pieces);
        done = job.done;
      }
      for (const auto& [i, p] : pieces) {
        if (!write(event(chunk(job, i, chat ? json{{"content", p}} : json(p), nullptr))))
          return false;
      }
      if (done) break;
    }
    if (job.error) {
      if (!write(event(job.error->to_json()))) return false;
    } else {
      for (int i = 0; i < n; ++i) {
        const Generation& g = job.result.generations[i];
        json last = chunk(job, i, chat ? json::object() : json(""),
                          finish_reason(g, job.choices[i].stopped_by_string));
        // On the last chunk (clients ignore unknown fields).
        if (i + 1 == n) last["pcache"] = extension(job);
        if (!write(event(last))) return false;
      }
      if (job.request.include_usage) {
        json u = chunk(job, 0, nullptr, nullptr);
        u["choices"] = json::array();
        u["usage"] = usage(job);
        if (!write(event(u))) return false;
      }
    }
    if (!write("data: [DONE]\n\n")) return false;
    sink.done();
    return true;
  }

  // --- States endpoints ---
  void create_state(const httplib::Request& req, httplib::Response& res) {
    auto call = begin(req, res, "/v1/states", /*admit=*/true);
    if (!call) return;
    auto parsed = parse_object(req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return reply_error(*call, res, *e);
    const json& body = std::get<json>(parsed);
    int given = 0;
    for (const auto& [key, v] : body.items()) {
      if (key != "prompt" && key != "messages" && key != "pml") {
        return reply_error(*call, res, {400, key, key + ": unsupported parameter (give prompt, messages or pml)"});
      }
      ++given;
    }
    if (given != 1) {
      return reply_error(*call, res, {400, "", "give exactly one of prompt, messages or pml"});
    }
    StatusOr<CachedPrompt> cached = Status::internal("not run");
    std::string param;
    if (body.contains("prompt")) {
      param = "prompt";
      if (!body["prompt"].is_string()) return reply_error(*call, res, {400, param, "prompt: expected a string"});
      cached = engine.cache_prompt(body["prompt"].get<std::string>(), call->tenant.cache_salt);
    } else if (body.contains("pml")) {
      param = "pml";
      if (!body["pml"].is_string()) return reply_error(*call, res, {400, param, "pml: expected a string"});
      cached = engine.cache_pml(body["pml"].get<std::string>(), "pml", call->tenant.cache_salt);
    } else {
      param = "messages";
      auto messages = read_messages(body["messages"]);
      if (auto* e = std::get_if<ApiError>(&messages)) return reply_error(*call, res, *e);
      cached = engine.cache_chat(std::get<std::vector<ChatMessage>>(messages), call->tenant.cache_salt);
    }
    if (!cached.ok()) {
      ApiError e = from_status(cached.status(), param);
      if (param == "pml" && e.status == 404)
        e.status = 400;  // an unknown schema or module: the prompt is wrong
      return reply_error(*call, res, e);
    }
    own(cached->state, call->tenant.cache_salt);
    const StepTiming& first = cached->steps.front();
    call->record.prompt_tokens = cached->tokens;
    call->record.cached_tokens = first.step == "load_state" ? first.tokens : 0;
    reply(*call, res, 200,
          {{"id", state_name(cached->state)},
           {"object", "state"},
           {"tokens", cached->tokens},
           {"cached_tokens", call->record.cached_tokens}});
  }

  json state_json(StateId id, const StateInfo& info) const {
    return {{"id", state_name(id)},
            {"object", "state"},
            {"tokens", info.tokens},
            {"parent", info.parent ? json(state_name(info.parent)) : json()},
            {"bytes", info.total_bytes}};
  }

  void list_states(const httplib::Request& req, httplib::Response& res) {
    auto call = begin(req, res, "/v1/states", false);
    if (!call) return;
    std::vector<StateId> mine;
    {
      std::lock_guard<std::mutex> lock(states_mu);
      for (const auto& [id, owner] : state_owner)
        if (owner == call->tenant.cache_salt) mine.push_back(id);
    }
    json data = json::array();
    for (StateId id : mine) {
      auto info = engine.state_info(id);
      if (info.ok()) {
        data.push_back(state_json(id, *info));
      } else {  // evicted by the engine
        std::lock_guard<std::mutex> lock(states_mu);
        state_owner.erase(id);
      }
    }
    reply(*call, res, 200, {{"object", "list"}, {"data", data}});
  }

  void state_endpoint(const httplib::Request& req, httplib::Response& res) {
    auto call = begin(req, res, "/v1/states/{id}", false);
    if (!call) return;
    auto owned = owned_state(req.matches[1], call->tenant, "id");
    if (auto* e = std::get_if<ApiError>(&owned)) return reply_error(*call, res, *e);
    const StateId id = std::get<StateId>(owned);
    if (req.method == "DELETE") {
      release_state(id);
      return reply(*call, res, 200, {{"id", state_name(id)}, {"object", "state"}, {"deleted", true}});
    }
    auto info = engine.state_info(id);
    if (!info.ok()) {
      release_state(id);
      return reply_error(*call, res, from_status(info.status(), "id"));
    }
    reply(*call, res, 200, state_json(id, *info));
  }

  // Snapshot files live in state_dir/<tenant label>/<name>.pcs.
  std::variant<std::string, ApiError> snapshot_path(const json& body, const Tenant& tenant) {
    if (options.state_dir.empty()) {
      return ApiError{400, "", "saving and loading states needs the server started with --state-dir"};
    }
    auto name = body.find("name");
    if (name == body.end() || !name->is_string()) return ApiError{400, "name", "name: expected a string"};
    const std::string n = name->get<std::string>();
    if (!valid_snapshot_name(n)) {
      return ApiError{400, "name", "name: \"" + n + "\" is not a snapshot name (1-64 of A-Z a-z 0-9 . _ -, not starting with .)"};
    }
    const std::string dir = options.state_dir + "/" + tenant.label;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return ApiError{500, "", "cannot create the state folder: " + ec.message()};
    return dir + "/" + n + ".pcs";
  }

  void save_state(const httplib::Request& req, httplib::Response& res) {
    auto call = begin(req, res, "/v1/states/{id}/save", false);
    if (!call) return;
    auto owned = owned_state(req.matches[1], call->tenant, "id");
    if (auto* e = std::get_if<ApiError>(&owned)) return reply_error(*call, res, *e);
    auto parsed = parse_object(req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return reply_error(*call, res, *e);
    const json& body = std::get<json>(parsed);
    for (const auto& [key, v] : body.items()) {
      if (key != "name" && key != "int8" && key != "remote") {
        return reply_error(*call, res, {400, key, key + ": unsupported parameter"});
      }
      if (key != "name" && !v.is_boolean()) return reply_error(*call, res, {400, key, key + ": expected true or false"});
    }
    const bool int8 = body.value("int8", false);
    Status s;
    if (body.value("remote", false)) {
      auto name = remote_state_name(body);
      if (auto* e = std::get_if<ApiError>(&name)) return reply_error(*call, res, *e);
      s = engine.save_remote(std::get<StateId>(owned), std::get<std::string>(name), int8,
                             call->tenant.cache_salt);
    } else {
      auto path = snapshot_path(body, call->tenant);
      if (auto* e = std::get_if<ApiError>(&path)) return reply_error(*call, res, *e);
      s = engine.save(std::get<StateId>(owned), std::get<std::string>(path), int8);
    }
    if (!s.ok()) return reply_error(*call, res, from_status(s));
    reply(*call, res, 200, {{"id", req.matches[1].str()}, {"object", "state"}, {"saved", body["name"]}});
  }

  // The name of a state in the remote tier ("remote": true): any replica
  // on the same Redis loads it by that name, for the same tenant only.
  std::variant<std::string, ApiError> remote_state_name(const json& body) const {
    auto name = body.find("name");
    if (name == body.end() || !name->is_string()) return ApiError{400, "name", "name: expected a string"};
    const std::string n = name->get<std::string>();
    if (!valid_snapshot_name(n)) {
      return ApiError{400, "name", "name: \"" + n + "\" is not a state name (1-64 of A-Z a-z 0-9 . _ -, not starting with .)"};
    }
    return n;
  }

  void load_state(const httplib::Request& req, httplib::Response& res) {
    auto call = begin(req, res, "/v1/states/load", /*admit=*/true);
    if (!call) return;
    auto parsed = parse_object(req.body);
    if (auto* e = std::get_if<ApiError>(&parsed)) return reply_error(*call, res, *e);
    const json& body = std::get<json>(parsed);
    for (const auto& [key, v] : body.items()) {
      if (key != "name" && key != "remote") return reply_error(*call, res, {400, key, key + ": unsupported parameter"});
      if (key == "remote" && !v.is_boolean()) return reply_error(*call, res, {400, key, "remote: expected true or false"});
    }
    const bool remote = body.value("remote", false);
    StatusOr<StateId> id = Status::internal("not run");
    if (remote) {
      auto name = remote_state_name(body);
      if (auto* e = std::get_if<ApiError>(&name)) return reply_error(*call, res, *e);
      id = engine.load_remote(std::get<std::string>(name), call->tenant.cache_salt);
    } else {
      auto path = snapshot_path(body, call->tenant);
      if (auto* e = std::get_if<ApiError>(&path)) return reply_error(*call, res, *e);
      id = engine.load(std::get<std::string>(path), call->tenant.cache_salt);
    }
    if (!id.ok()) {
      ApiError e = from_status(id.status(), "name");
      if (e.status == 404) {
        e.message = "name: no " + std::string(remote ? "state in the remote tier" : "snapshot") + " \"" +
                    body["name"].get<std::string>() + "\"";
      }
      return reply_error(*call, res, e);
    }
    own(*id, call->tenant.cache_salt);
    auto info = engine.state_info(*id);
    reply(*call, res, 200, state_json(*id, info.ok() ? *info : StateInfo{}));
  }

  // --- Schemas ---
  // Registers a schema (text for the tenant of `cache_salt`, or a file, shared,
  // when `is_path`), compiles it, logs it.
  StatusOr<json> register_schema(const std::string& text_or_path, bool is_path,
                                 uint64_t cache_salt) {
    auto name = is_path ? engine.add_schema_file(text_or_path)
                        : engine.add_schema(text_or_path, "request", cache_salt);
    if (!name.ok()) return name.status();
    log.event("schema " + *name + ": compiling");
    auto modules = engine.compile(*name, cache_salt);
    if (!modules.ok()) return modules.status();
    json list = json::array();
    int64_t tokens = 0;
    for (const auto& m : *modules) {
      log.event("schema " + *name + ": module " + (m.module.empty() ? "(schema text)" : m.module) + ", " +
                std::to_string(m.tokens) + " tokens, " +
                (m.was_cached ? std::string("cached") : std::to_string(m.encode_ms) + " ms"));
      list.push_back({{"name", m.module}, {"tokens", m.tokens}, {"encode_ms", m.encode_ms}, {"was_cached", m.was_cached}});
      tokens += m.tokens;
    }
    json entry = {{"name", *name},
                  {"object", "schema"},
                  {"modules", list},
                  {"tokens", tokens},
                  {"shared", cache_salt == 0}};
    std::lock_guard<std::mutex> lock(schemas_mu);
    schemas[{cache_salt, *name}] = entry;
    return entry;
  }

  void post_schema(const httplib::Request& req, httplib::Response& res) {
    auto call = begin(req, res, "/v1/schemas", /*admit=*/true);
    if (!call) return;
    auto entry = register_schema(req.body, false, call->tenant.cache_salt);
    if (!entry.ok()) return reply_error(*call, res, from_status(entry.status(), "body"));
    reply(*call, res, 200, *entry);
  }

  void list_schemas(const httplib::Request& req, httplib::Response& res) {
    auto call = begin(req, res, "/v1/schemas", false);
    if (!call) return;
    const uint64_t mine = call->tenant.cache_salt;
    json data = json::array();
    {
      std::lock_guard<std::mutex> lock(schemas_mu);
      for (const auto& [key, entry] : schemas) {
        const auto& [owner, name] = key;
        // The tenant's own, and the shared ones it does not replace with its own.
        if (owner == mine || (owner == 0 && !schemas.count({mine, name}))) data.push_back(entry);
      }
    }
    reply(*call, res, 200, {{"object", "list"}, {"data", data}});
  }

  void delete_schema(const httplib::Request& req, httplib::Response& res) {
    auto call = begin(req, res, "/v1/schemas/{name}", false);
    if (!call) return;
    const std::string name = req.matches[1];
    const uint64_t mine = call->tenant.cache_salt;
    Status s = engine.remove_schema(name, mine);
    if (!s.ok()) {
      bool shared = false;
      {
        std::lock_guard<std::mutex> lock(schemas_mu);
        shared = schemas.count({0, name}) > 0;
      }
      if (s.code() == StatusCode::kNotFound && shared) {
        return reply_error(*call, res,
                           {403, "name",
                            "name: schema \"" + name +
                                "\" is shared by every key; only the server's own "
                                "configuration changes it"});
      }
      return reply_error(*call, res, from_status(s, "name"));
    }
    {
      std::lock_guard<std::mutex> lock(schemas_mu);
      schemas.erase({mine, name});
    }
    reply(*call, res, 200, {{"name", name}, {"object", "schema"}, {"deleted", true}});
  }

  // --- The rest ---
  void routes() {
    using Method = void (Impl::*)(const httplib::Request&, httplib::Response&);
    auto to = [this](Method m) {
      return [this, m](const httplib::Request& q, httplib::Response& s) { (this->*m)(q, s); };
    };
    http.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& s) {
      generation(q, s, Endpoint::kChat);
    });
    http.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& s) {
      generation(q, s, Endpoint::kCompletion);
    });
    http.Post("/v1/states", to(&Impl::create_state));
    http.Get("/v1/states", to(&Impl::list_states));
    http.Post("/v1/states/load", to(&Impl::load_state));
    http.Post(R"(/v1/states/([^/]+)/save)", to(&Impl::save_state));
    http.Get(R"(/v1/states/([^/]+))", to(&Impl::state_endpoint));
    http.Delete(R"(/v1/states/([^/]+))", to(&Impl::state_endpoint));
    http.Post("/v1/schemas", to(&Impl::post_schema));
    http.Get("/v1/schemas", to(&Impl::list_schemas));
    http.Delete(R"(/v1/schemas/([^/]+))", to(&Impl::delete_schema));
    http.Get("/v1/models", [this](const httplib::Request& q, httplib::Response& s) {
      auto call = begin(q, s, "/v1/models", false);
      if (!call) return;
      reply(*call, s, 200,
            {{"object", "list"},
             {"data", json::array({{{"id", model_name},
                                    {"object", "model"},
                                    {"created", created},
                                    {"owned_by", "pcache"}}})}});
    });
    // Unauthenticated, as load balancers probe it.
    http.Get("/health", [this](const httplib::Request&, httplib::Response& s) {
      s.status = draining ? 503 : 200;
      s.set_content(draining ? R"({"status":"shutting down"})" : R"({"status":"ok"})", "application/json");
    });
    http.Get("/metrics", [this](const httplib::Request& q, httplib::Response& s) {
      auto call = begin(q, s, "/metrics", false);
      if (!call) return;
      EngineGauges g;
      g.serving = engine.serving_stats();
      g.cache = engine.cache_stats();
      g.states = static_cast<int64_t>(engine.states().size());
      g.in_flight = admission.in_flight();
      s.set_content(metrics.render(g), "text/plain; version=0.0.4");
      finish(*call, 200);
    });
    // Whatever httplib answers by itself (no route, a body over the limit,
    // a malformed request) gets an error body in the same form.
    http.set_error_handler([this](const httplib::Request& q, httplib::Response& s) {
      if (!s.body.empty()) return;
      std::string message = "malformed HTTP request";
      if (s.status == 404) message = "no route " + q.method + " " + q.path;
      if (s.status == 413) {
        message = "the body is larger than this server's limit of " +
                  std::to_string(options.max_body_bytes) + " bytes";
      }
      s.set_content(dump(ApiError{s.status, "", message}.to_json()), "application/json");
    });
    http.set_exception_handler([this](const httplib::Request&, httplib::Response& s, std::exception_ptr e) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        what = x.what();
      } catch (...) {
      }
      log.event("internal error: " + what);
      s.status = 500;
      s.set_content(dump(ApiError{500, "", "internal error: " + what}.to_json()), "application/json");
    });
  }
};

Server::Server(Engine& engine, const ServerOptions& options, const std::string& model_name,
               const SamplingOptions& defaults)
    : impl_(std::make_unique<Impl>(engine, options, model_name, defaults)) {
  Impl& i = *impl_;
  i.http.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  i.http.set_tcp_nodelay(true);  // each streamed token is a small write: send it now
  // Threads for every request admitted, plus some to answer 429 at once.
  const size_t threads = static_cast<size_t>(options.max_concurrent) + options.max_queue + 8;
  i.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  i.generators = std::make_unique<httplib::ThreadPool>(static_cast<size_t>(options.max_concurrent) +
                                                        options.max_queue);
  i.routes();
}

Server::~Server() {
  shutdown();
}

Status Server::load_schemas() {
  for (const auto& path : impl_->options.schemas) {
    std::vector<std::string> files;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
        if (entry.path().extension() == ".xml") files.push_back(entry.path().string());
      }
      std::sort(files.begin(), files.end());
      if (ec) return Status::io_error(path + ": " + ec.message());
    } else {
      files.push_back(path);
    }
    for (const auto& file : files) {
      auto entry = impl_->register_schema(file, true, 0);
      if (!entry.ok()) return entry.status().with_context(file);
    }
  }
  return Status::ok_status();
}

Status Server::bind() {
  Impl& i = *impl_;
  if (i.options.port == 0) {
    i.bound_port = i.http.bind_to_any_port(i.options.host);
  } else if (i.http.bind_to_port(i.options.host, i.options.port)) {
    i.bound_port = i.options.port;
  }
  if (i.bound_port <= 0) {
    return Status::io_error("cannot listen on " + i.options.host + ":" + std::to_string(i.options.port) +
                            " (address in use, or not an address of this machine)");
  }
  return Status::ok_status();
}

int Server::port() const { return impl_->bound_port; }

void Server::serve() {
  impl_->log.event("listening on http://" + impl_->options.host + ":" + std::to_string(port()) +
                   " (model " + impl_->model_name + ")");
  impl_->http.listen_after_bind();
}

void Server::shutdown() {
  Impl& i = *impl_;
  if (i.draining.exchange(true)) {
    i.admission.wait_idle(1e9);
    return;
  }
  i.admission.close();
  i.http.stop();
  i.log.event("shutting down: " + std::to_string(i.admission.in_flight()) + " requests in flight");
  if (!i.admission.wait_idle(i.options.shutdown_grace_s)) {
    i.log.event("grace period over: cancelling " + std::to_string(i.admission.in_flight()) + " requests");
    i.cancel_all = true;
    i.admission.wait_idle(1e9);
  }
  i.generators->shutdown();
  // What this replica encoded reaches the others (the remote tier) before it goes.
  i.engine.flush_remote_writes();
  i.log.event("stopped");
}

}  // namespace pcache::server
