#include "runtime/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <numeric>
#include <optional>
#include <tuple>
#include <utility>

#include "cache/tensor_status.h"
#include "model/host_copy.h"

namespace pcache {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

bool is_eos(const ModelConfig& c, int id) {
  return std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), id) != c.eos_token_ids.end();
}

bool overlap_wanted(const LlamaModel& model, const SchedulerOptions& options) {
  if (options.overlap_steps) return *options.overlap_steps;
  const char* env = std::getenv("PCACHE_OVERLAP_STEPS");
  if (env && std::strcmp(env, "0") == 0) return false;
  if (env && std::strcmp(env, "1") == 0) return true;
  return model.device().is_cuda();
}

// The token of an entry queued before its id is on the host (an overlapped
// step reads it on the device): outside the vocabulary, so that a forward
// that read it from the host would fail (check_paged), not compute with it.
constexpr int kTokenOnDevice = -1;

}  // namespace

// A request from its submission to its end. Only the loop thread touches it
// after submit(), except `cancelled` (under the scheduler's mutex).
struct Scheduler::Active : std::enable_shared_from_this<Active> {
  Active(Handle h, SequenceRequest r, std::function<void(StatusOr<SequenceResult>)> d)
      : handle(h),
        request(std::move(r)),
        done(std::move(d)),
        sampler(request.sampling, request.resume_sampler),
        context_length(request.context.length()),
        pending_tokens(request.tokens),
        pending_positions(request.positions),
        submitted(Clock::now()) {}

  PagedSequence& sequence() { return request.context; }
  int64_t pending_left() const { return static_cast<int64_t>(pending_tokens.size()) - pending_fed; }
  bool decoding() const { return pending_left() == 0 && next_token >= 0; }

  Handle handle;
  SequenceRequest request;
  std::function<void(StatusOr<SequenceResult>)> done;
  Sampler sampler;
  const int64_t context_length;  // entries kept when preempted
  // What is still to compute before decoding: the prompt, and after a
  // preemption the generated tokens that had been fed too.
  std::vector<int> pending_tokens;
  std::vector<int64_t> pending_positions;
  int64_t pending_fed = 0;
  int next_token = -1;   // sampled, not yet fed
  int64_t fed_generated = 0;
  int64_t appended = 0;  // entries appended for the step in flight
  // Its last entry was queued ahead (overlapped steps) and is dropped if the
  // token before it ends the request.
  bool ahead = false;
  bool cancelled = false;
  bool started = false;
  std::optional<Clock::time_point> blocked_since;  // waiting for blocks held outside the scheduler
  SequenceResult result;
  Clock::time_point submitted, first_token_at;
};

Scheduler::Scheduler(const LlamaModel& model, BlockPool& pool, SchedulerOptions options)
    : model_(model),
      pool_(pool),
      options_(options),
      overlap_steps_(overlap_wanted(model, options)),
      graphs_(model, pool),
      thread_([this] { loop(); }) {}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

Scheduler::Handle Scheduler::submit(SequenceRequest request,
                                    std::function<void(StatusOr<SequenceResult>)> done) {
  std::unique_lock<std::mutex> lock(mu_);
  const Handle h = next_handle_++;
  const bool from_logits = request.first_logits.defined() && !request.prefill_only;
  if ((request.tokens.empty() && !from_logits) || request.tokens.size() != request.positions.size()) {
    lock.unlock();
    done(Status::invalid_argument("scheduler: a request computes at least one token (got " +
                                  std::to_string(request.tokens.size()) + " tokens, " +
                                  std::to_string(request.positions.size()) + " positions)"));
    return h;
  }
  waiting_.push_back(std::make_shared<Active>(h, std::move(request), std::move(done)));
  stats_.waiting = static_cast<int64_t>(waiting_.size());
  lock.unlock();
  wake_.notify_all();
  return h;
}

StatusOr<SequenceResult> Scheduler::run(SequenceRequest request) {
  std::promise<StatusOr<SequenceResult>> promise;
  auto future = promise.get_future();
  submit(std::move(request), [&promise](StatusOr<SequenceResult> r) { promise.set_value(std::move(r)); });
  return future.get();
}

void Scheduler::cancel(Handle handle) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& a : running_) {
    if (a->handle == handle) a->cancelled = true;
  }
  for (auto& a : waiting_) {
    if (a->handle == handle) a->cancelled = true;
  }
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

// The result of a request that ends now: its sequence and sampler state handed over.
static SequenceResult take_result(SequenceResult& r, PagedSequence& seq, const Sampler& sampler) {
  r.sequence = std::make_unique<PagedSequence>(std::move(seq));
  r.sampler = sampler.state();
  return std::move(r);
}

void Scheduler::loop() {
  std::vector<std::shared_ptr<Active>> batch;
  for (;;) {
    std::vector<std::shared_ptr<Active>> cancelled_waiting;
    std::vector<std::pair<std::shared_ptr<Active>, SequenceResult>> cancelled_preempted;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !waiting_.empty() || !running_.empty(); });
      if (stopping_) {
        for (auto& a : running_) cancelled_waiting.push_back(a);
        for (auto& a : waiting_) cancelled_waiting.push_back(a);
        running_.clear();
        waiting_.clear();
        lock.unlock();
        for (auto& a : cancelled_waiting) a->done(Status::cancelled("scheduler: the engine is closing"));
        return;
      }
      // Requests cancelled before they ran end now.
      // Requests cancelled while waiting end now: with nothing if they never
      // ran, with what they generated if they were preempted.
      for (auto it = waiting_.begin(); it != waiting_.end();) {
        Active& a = **it;
        if (!a.cancelled) {
          ++it;
          continue;
        }
        if (a.started) {
          a.result.stop_reason = StopReason::kCallback;
          cancelled_preempted.emplace_back(*it, take_result(a.result, a.sequence(), a.sampler));
        } else {
          cancelled_waiting.push_back(*it);
        }
        it = waiting_.erase(it);
      }
    }
    for (auto& a : cancelled_waiting) a->done(Status::cancelled("request cancelled before it ran"));
    for (auto& [a, r] : cancelled_preempted) a->done(std::move(r));
    if (!step(batch)) {
      // Blocks held outside the scheduler come back without a signal.
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, std::chrono::milliseconds(1));
    }
  }
}

bool Scheduler::step(std::vector<std::shared_ptr<Active>>& batch) {
  const Clock::time_point step_start = Clock::now();
  Ended ended;
  auto end_with = [&](const std::shared_ptr<Active>& a, StatusOr<SequenceResult> r) {
    ended.emplace_back(a, std::move(r));
  };
  std::unique_lock<std::mutex> lock(mu_);
  // Cancelled running requests stop with what they have.
  for (auto it = running_.begin(); it != running_.end();) {
    Active& a = **it;
    if (a.cancelled) {
      a.result.stop_reason = StopReason::kCallback;
      end_with(*it, take_result(a.result, a.sequence(), a.sampler));
      it = running_.erase(it);
    } else {
      ++it;
    }
  }

  int64_t budget = running_.size() + waiting_.size() == 1 ? options_.max_lone_step_tokens
                                                          : options_.max_step_tokens;
  batch.clear();
  // Preempts `v` (running): drops its computed entries (and its place in
  // this step) and queues it first, to be recomputed.
  auto preempt = [&](std::shared_ptr<Active> v) {  // a copy: erasing it from running_ must not free it
    running_.erase(std::find(running_.begin(), running_.end(), v));
    if (auto in = std::find(batch.begin(), batch.end(), v); in != batch.end()) {
      budget += v->appended;
      batch.erase(in);
    }
    v->sequence().truncate(v->context_length);
    v->pending_tokens = v->request.tokens;
    v->pending_positions = v->request.positions;
    for (int64_t i = 0; i < v->fed_generated; ++i) {
      v->pending_tokens.push_back(v->result.tokens[i]);
      v->pending_positions.push_back(v->request.next_position + i);
    }
    v->pending_fed = 0;
    v->fed_generated = 0;
    v->appended = 0;
    ++v->result.preemptions;
    ++stats_.preemptions;
    waiting_.push_front(v);
  };
  // Appends the next entries of `a` (a decode token or a prefill chunk of at
  // most `budget`). While the pool is short, requests newer than `a` are
  // preempted when `a` is running; a waiting one only waits.
  auto append_next = [&](Active& a, int64_t budget) -> Status {
    std::vector<int> tokens;
    std::vector<int64_t> positions;
    if (a.decoding()) {
      tokens = {a.next_token};
      positions = {a.request.next_position + a.fed_generated};
    } else {
      const int64_t n = std::min(a.pending_left(), budget);
      tokens.assign(a.pending_tokens.begin() + a.pending_fed, a.pending_tokens.begin() + a.pending_fed + n);
      positions.assign(a.pending_positions.begin() + a.pending_fed,
                       a.pending_positions.begin() + a.pending_fed + n);
    }
    for (;;) {
      Status s = a.sequence().append(tokens, positions);
      if (s.ok()) {
        a.appended = static_cast<int64_t>(tokens.size());
        return s;
      }
      auto self = std::find_if(running_.begin(), running_.end(),
                               [&](const std::shared_ptr<Active>& r) { return r.get() == &a; });
      if (s.code() != StatusCode::kResourceExhausted || self == running_.end() ||
          std::next(self) == running_.end()) {
        return s;
      }
      preempt(running_.back());
    }
  };

  // Decoding first (a token each), then prefill chunks, oldest first.
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < running_.size(); ++i) {
      std::shared_ptr<Active> a = running_[i];
      if (a->decoding() != (pass == 0) || budget <= 0) continue;
      Status s = append_next(*a, budget);
      if (!s.ok()) {
        if (s.code() == StatusCode::kResourceExhausted && running_.size() > 1) {
          // The newest running request, short of blocks: it waits its turn again.
          preempt(a);
        } else {
          end_with(a, s.code() == StatusCode::kResourceExhausted
                          ? Status::resource_exhausted("request does not fit in the KV block pool: " +
                                                       s.message())
                          : s);
          running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
        }
        --i;
        continue;
      }
      budget -= a->appended;
      batch.push_back(a);
    }
  }
  // Admission, first come first served, while the budget and the pool allow.
  std::vector<std::shared_ptr<Active>> sample_first;
  while (budget > 0 && !waiting_.empty() &&
         static_cast<int64_t>(running_.size()) < options_.max_running) {
    std::shared_ptr<Active> a = waiting_.front();
    if (!a->started && a->pending_tokens.empty()) {  // nothing to compute before its first token
      waiting_.pop_front();
      a->started = true;
      a->result.queued_ms = ms_between(a->submitted, Clock::now());
      running_.push_back(a);
      sample_first.push_back(a);
      continue;
    }
    Status s = append_next(*a, budget);
    if (!s.ok()) {
      bool give_up = s.code() != StatusCode::kResourceExhausted;
      if (!give_up && running_.empty()) {
        // Only sequences outside the scheduler hold blocks: wait a while
        // for them to be dropped, unless the chunk needs more than the pool.
        const int64_t chunk = std::min(a->pending_left(), budget);
        const Clock::time_point now = Clock::now();
        if (!a->blocked_since) a->blocked_since = now;
        give_up = (chunk + BlockPool::kBlockSize - 1) / BlockPool::kBlockSize + 1 > pool_.num_blocks() ||
                  ms_between(*a->blocked_since, now) > options_.max_block_wait_ms;
      }
      if (give_up) {
        waiting_.pop_front();
        end_with(a, s.code() == StatusCode::kResourceExhausted
                        ? Status::resource_exhausted("request does not fit in the KV block pool: " +
                                                     s.message())
                        : s);
        continue;
      }
      break;  // waits for blocks to come back
    }
    waiting_.pop_front();
    a->blocked_since.reset();
    if (!a->started) {
      a->started = true;
      a->result.queued_ms = ms_between(a->submitted, Clock::now());
    }
    running_.push_back(a);
    budget -= a->appended;
    batch.push_back(a);
  }
  stats_.running = static_cast<int64_t>(running_.size());
  stats_.waiting = static_cast<int64_t>(waiting_.size());
  stats_.max_batch = std::max<int64_t>(stats_.max_batch, static_cast<int64_t>(batch.size()));
  if (!batch.empty()) ++stats_.steps;
  lock.unlock();

  // Admitted requests whose first token comes from the logits they were given.
  if (!sample_first.empty()) {
    std::vector<std::shared_ptr<Active>> gone;
    for (auto& a : sample_first) {
      a->result.last_logits = a->request.first_logits;
      if (sample_next(*a, [&] { return a->sampler.sample(a->request.first_logits); }, ended)) {
        gone.push_back(a);
      }
    }
    lock.lock();
    for (auto& a : gone) running_.erase(std::find(running_.begin(), running_.end(), a));
    lock.unlock();
  }

  if (!batch.empty()) {
    std::vector<PagedInput> inputs;
    for (auto& a : batch) inputs.push_back({&a->sequence(), a->appended, false});
    // Whatever the forward throws ends this step's requests, not the loop.
    const Clock::time_point forward_start = Clock::now();
    StatusOr<at::Tensor> logits =
        without_exceptions("forward", [&] { return graphs_.forward(inputs); });
    if (logits.ok() && overlap_steps_ &&
        std::all_of(batch.begin(), batch.end(), [](const auto& a) { return a->decoding(); })) {
      for (auto& a : batch) {
        ++a->fed_generated;
        a->appended = 0;
      }
      decode_overlapped(batch, *logits, ended, step_start, ms_between(forward_start, Clock::now()));
      finish(ended);
      return true;
    }
    // Only this thread changes running_: it is read here without the lock,
    // and the lock is taken only to remove what ended (callbacks run unlocked).
    std::vector<std::shared_ptr<Active>> gone;
    std::vector<std::pair<int64_t, Active*>> picks;  // the rows that take a token from this step
    for (size_t j = 0; j < batch.size(); ++j) {
      std::shared_ptr<Active> a = batch[j];
      if (!logits.ok()) {
        a->sequence().truncate(a->sequence().length() - a->appended);
        end_with(a, logits.status());
        gone.push_back(a);
        continue;
      }
      const bool was_decoding = a->decoding();
      if (was_decoding) {
        ++a->fed_generated;
      } else {
        a->pending_fed += a->appended;
      }
      a->appended = 0;
      if (!was_decoding && a->pending_left() > 0) continue;  // more prompt to come
      a->result.last_logits = (*logits)[static_cast<int64_t>(j)];
      if (!was_decoding && a->next_token >= 0) {
        // Recomputed after a preemption, generated tokens included: decode on.
        a->fed_generated = static_cast<int64_t>(a->result.tokens.size()) - 1;
        continue;
      }
      if (a->request.prefill_only) {
        a->result.first_token_ms = ms_between(a->submitted, Clock::now());
        end_with(a, take_result(a->result, a->sequence(), a->sampler));
        gone.push_back(a);
        continue;
      }
      picks.emplace_back(static_cast<int64_t>(j), a.get());
    }
    // Their tokens in one transfer: not a device sync per request.
    at::Tensor ids;
    Status picked = Status::ok_status();
    if (!picks.empty()) {
      picked = without_exceptions("sampling", [&] {
        ids = pick_tokens(*logits, picks).to(at::kCPU);
        return Status::ok_status();
      });
    }
    const Clock::time_point forward_end = Clock::now();
    for (const auto& [row, active] : picks) {
      std::shared_ptr<Active> a = active->shared_from_this();
      if (!picked.ok()) {
        end_with(a, picked);
        gone.push_back(a);
      } else if (sample_next(*a, [&, row = row] { return static_cast<int>(ids.data_ptr<int64_t>()[row]); },
                             ended)) {
        gone.push_back(a);
      }
    }
    lock.lock();
    for (auto& a : gone) running_.erase(std::find(running_.begin(), running_.end(), a));
    stats_.running = static_cast<int64_t>(running_.size());
    stats_.forward_ms += ms_between(forward_start, forward_end);
    stats_.step_ms += ms_between(step_start, Clock::now());
    stats_.graph_captures = graphs_.captures();
    lock.unlock();
  }
  const bool ran = !batch.empty() || !ended.empty() || !sample_first.empty();
  finish(ended);
  return ran;
}

void Scheduler::decode_overlapped(std::vector<std::shared_ptr<Active>> rows, at::Tensor logits,
                                  Ended& ended, Clock::time_point step_start, double forward_ms) {
  // rows[j]'s logits are logits[index[j]]: the rows of the step in flight
  // that are still running.
  std::vector<int64_t> index(rows.size());
  std::iota(index.begin(), index.end(), 0);
  for (;;) {
    const Clock::time_point launch_start = Clock::now();
    // This step's tokens, picked on the device (a sampled row draws its
    // number now: its request did not end at the token before) and copied
    // back behind the next step.
    at::Tensor ids;  // [rows of the step] int64, on the device
    HostCopy tokens;
    Status status = without_exceptions("sampling", [&] {
      std::vector<std::pair<int64_t, Active*>> picks;
      for (size_t j = 0; j < rows.size(); ++j) picks.emplace_back(index[j], rows[j].get());
      ids = pick_tokens(logits, picks);
      tokens = HostCopy(ids);
      return Status::ok_status();
    });
    // The next step, for the rows that want another token whatever this
    // step's is (eos or a callback may still end them), while nobody waits
    // to join the batch and nothing is cancelled.
    std::vector<std::shared_ptr<Active>> next;
    std::vector<int64_t> next_index;  // their rows in the step in flight
    if (status.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopping_ && waiting_.empty()) {
        for (size_t j = 0; j < rows.size(); ++j) {
          const Active& a = *rows[j];
          if (a.cancelled) {
            next.clear();
            break;
          }
          if (static_cast<int>(a.result.tokens.size()) + 1 < a.request.sampling.max_tokens) {
            next.push_back(rows[j]);
            next_index.push_back(index[j]);
          }
        }
      }
    }
    for (size_t k = 0; k < next.size(); ++k) {
      Active& a = *next[k];
      if (!a.sequence().append({kTokenOnDevice}, {a.request.next_position + a.fed_generated}).ok()) {
        // Short of blocks: a plain step (which preempts) comes next.
        for (size_t i = 0; i < k; ++i) next[i]->sequence().truncate(next[i]->sequence().length() - 1);
        next.clear();
      }
    }
    at::Tensor next_logits;
    if (!next.empty()) {
      std::vector<PagedInput> inputs;
      for (auto& a : next) inputs.push_back({&a->sequence(), 1, false});
      Status launched = without_exceptions("forward", [&]() -> Status {
        at::Tensor fed = ids;  // [next] int64: each row's token of the step in flight
        if (static_cast<int64_t>(next_index.size()) != ids.size(0)) {
          fed = ids.index_select(0, copy_to_device(next_index, ids.device()));
        }
        PCACHE_ASSIGN_OR_RETURN(next_logits, graphs_.forward(inputs, fed));
        return Status::ok_status();
      });
      if (launched.ok()) {
        for (auto& a : next) {
          ++a->fed_generated;
          a->ahead = true;
        }
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.steps;
        ++stats_.overlapped_steps;
        stats_.max_batch = std::max<int64_t>(stats_.max_batch, static_cast<int64_t>(next.size()));
      } else {
        // A plain step runs them again, and reports its own error.
        for (auto& a : next) a->sequence().truncate(a->sequence().length() - 1);
        next.clear();
      }
    }

    // This step's tokens, streamed while the next step runs.
    at::Tensor host;
    if (status.ok()) {
      status = without_exceptions("sampling", [&] {
        host = tokens.wait();
        return Status::ok_status();
      });
    }
    forward_ms += ms_between(launch_start, Clock::now());
    std::vector<std::shared_ptr<Active>> gone;
    for (size_t j = 0; j < rows.size(); ++j) {
      const std::shared_ptr<Active>& a = rows[j];
      if (!status.ok()) {  // this step's entry and the one queued after it
        a->sequence().truncate(a->sequence().length() - 1 - (a->ahead ? 1 : 0));
        ended.emplace_back(a, status);
        gone.push_back(a);
        continue;
      }
      a->result.last_logits = logits[index[j]];
      const int token = static_cast<int>(host.data_ptr<int64_t>()[index[j]]);
      if (a->ahead) a->sequence().set_token(a->sequence().length() - 1, token);
      if (sample_next(*a, [token] { return token; }, ended)) gone.push_back(a);
      a->ahead = false;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& a : gone) running_.erase(std::find(running_.begin(), running_.end(), a));
      stats_.running = static_cast<int64_t>(running_.size());
      stats_.forward_ms += forward_ms;
      stats_.step_ms += ms_between(step_start, Clock::now());
      stats_.graph_captures = graphs_.captures();
    }
    finish(ended);

    // On with the step in flight, for its rows still running.
    rows.clear();
    index.clear();
    for (size_t k = 0; k < next.size(); ++k) {
      if (std::find(gone.begin(), gone.end(), next[k]) == gone.end()) {
        rows.push_back(next[k]);
        index.push_back(static_cast<int64_t>(k));
      }
    }
    if (rows.empty()) return;
    logits = next_logits;
    step_start = Clock::now();
    forward_ms = 0;
  }
}

at::Tensor Scheduler::pick_tokens(const at::Tensor& logits,
                                  const std::vector<std::pair<int64_t, Active*>>& rows) {
  at::Tensor ids = logits.argmax(-1);  // [R]: the greedy rows' tokens
  // The sampled rows, by options: rows in one group are sampled together.
  std::map<std::tuple<float, int, float>, std::pair<std::vector<int64_t>, std::vector<double>>> groups;
  for (const auto& [row, a] : rows) {
    if (a->sampler.greedy()) continue;
    const SamplingOptions& o = a->sampler.options();
    auto& [group_rows, uniforms] = groups[{o.temperature, o.top_k, o.top_p}];
    group_rows.push_back(row);
    uniforms.push_back(a->sampler.draw());
  }
  for (const auto& [options, group] : groups) {
    SamplingOptions o;
    std::tie(o.temperature, o.top_k, o.top_p) = options;
    const at::Tensor at_rows = copy_to_device(group.first, logits.device());
    ids.index_copy_(0, at_rows, sample_rows(logits.index_select(0, at_rows), o, group.second));
  }
  return ids;
}

bool Scheduler::stream_token(Active& a, int next, Ended& ended) {
  if (a.result.tokens.empty()) {
    a.first_token_at = Clock::now();
    a.result.first_token_ms = ms_between(a.submitted, a.first_token_at);
  }
  bool stop = false;
  if (a.request.sampling.stop_at_eos && is_eos(model_.config(), next)) {
    a.result.stop_reason = StopReason::kEos;
    stop = true;
  } else {
    a.result.tokens.push_back(next);
    a.next_token = next;
    if (a.request.on_token && !a.request.on_token(next)) {
      a.result.stop_reason = StopReason::kCallback;
      stop = true;
    } else if (static_cast<int>(a.result.tokens.size()) >= a.request.sampling.max_tokens) {
      a.result.stop_reason = StopReason::kMaxTokens;
      stop = true;
    }
  }
  if (stop) {
    if (a.ahead) {  // computed for a token that will not come
      a.sequence().truncate(a.sequence().length() - 1);
      --a.fed_generated;
      a.ahead = false;
    }
    if (a.result.tokens.size() > 1) a.result.decode_ms = ms_between(a.first_token_at, Clock::now());
    ended.emplace_back(a.shared_from_this(), take_result(a.result, a.sequence(), a.sampler));
  }
  return stop;
}

bool Scheduler::sample_next(Active& a, const std::function<int()>& sample, Ended& ended) {
  try {
    return stream_token(a, sample(), ended);
  } catch (const std::exception& e) {
    ended.emplace_back(a.shared_from_this(),
                       Status::internal(std::string("generation stopped: ") + e.what()));
    return true;
  }
}

void Scheduler::finish(Ended& ended) {
  for (auto& [a, r] : ended) a->done(std::move(r));
  ended.clear();
}

}  // namespace pcache
