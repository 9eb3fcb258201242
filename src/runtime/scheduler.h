// Scheduler: continuous batching of sequences over one BlockPool.
//
// One step loop, on a thread of its own, runs every request submitted from
// any thread. Each step is one forward_paged over all running sequences: a
// token for each one that is decoding and, within a budget of
// `max_step_tokens`, the next chunk of the prompts being prefilled (first
// come, first served). A request is admitted when the pool has the blocks
// for its next chunk, samples with its own options and seed once its prompt
// is in, calls its callback with each token, and leaves the batch as soon as
// it stops (eos, its token budget, its callback, or cancel()): its blocks go
// back to the pool at once. When a step cannot get the blocks it needs, the
// newest running request is preempted: its computed entries are dropped
// (its context, shared blocks such as modules', is kept) and it waits to be
// recomputed, tokens generated so far included; no request fails for want
// of blocks unless it cannot fit in the pool alone.
//
// A request alone in the scheduler takes steps of up to `max_lone_step_tokens`.
// Decode steps and lone extends replay CUDA graphs where they can
// (model/step_graphs.h). Tokens are picked where the logits are (the argmax,
// or sampled there with a number from the request's sampler on the host).
// While every running request decodes and none waits, steps overlap
// (`overlap_steps`): the next step is queued on the device, fed this step's
// tokens there, before they are read back and streamed, so that the host's
// turn between steps is hidden behind the device's work. A request that eos
// or its callback then ends had an entry computed for nothing; it is dropped.
// Thread-safe. Results equal one request run alone within the tolerance of
// batched BLAS (docs/architecture.md, "Serving core"): greedy tokens match.
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "model/step_graphs.h"
#include "model/llama.h"
#include "model/paged_sequence.h"
#include "pcache/generation.h"
#include "runtime/sampler.h"

namespace pcache {

struct SchedulerOptions {
  // New tokens in one forward at most (prefill chunks and decode tokens together).
  int64_t max_step_tokens = 512;
  // The same while one request is all the scheduler has (none other running
  // or waiting): no one's decoding waits on its step, so a lone long prompt
  // is prefilled in fewer, larger steps, which cost less in all (each later
  // chunk reads the entries before it back from the pool).
  int64_t max_lone_step_tokens = 512;
  // Running sequences at most.
  int64_t max_running = 256;
  // How long a request may wait for blocks that only sequences outside the
  // scheduler hold (saved states, results not yet dropped) before it fails
  // with ResourceExhausted.
  int64_t max_block_wait_ms = 5000;
  // Overlapped decode steps (above). Unset: where the model runs on CUDA
  // (on the CPU a step is computed before it returns: nothing would
  // overlap), unless PCACHE_OVERLAP_STEPS is 0 (off, to compare) or 1 (on,
  // the CPU too: to test the bookkeeping the GPU runs) in the environment.
  std::optional<bool> overlap_steps;
};

// One request: entries already computed (`context`: a cached prefix, a
// module's or a state's blocks; may be empty), then `tokens` at `positions`
// to compute, then up to sampling.max_tokens generated from `next_position` on.
struct SequenceRequest {
  explicit SequenceRequest(BlockPool& pool) : context(pool) {}
  PagedSequence context;
  std::vector<int> tokens;
  std::vector<int64_t> positions;
  int64_t next_position = 0;
  SamplingOptions sampling;
  // The sampler of the state this request continues (Sampler says when it resumes).
  std::optional<SamplerState> resume_sampler;
  // The logits after `context` when `tokens` is empty: the first token is
  // sampled from them, with nothing computed first (a state's continuation).
  at::Tensor first_logits;
  // Only compute the tokens: no sampling (a state's prefill). The result's
  // last_logits are then those after the last token.
  bool prefill_only = false;
  // Each generated token as it comes (eos, when it stops the request, is not
  // passed); false stops the request (StopReason::kCallback). Runs on the
  // scheduler's thread: keep it short. An exception from it (or from the
  // sampler) ends this request alone, with Internal.
  std::function<bool(int)> on_token;
};

struct SequenceResult {
  std::vector<int> tokens;  // generated, without the eos that stopped them
  StopReason stop_reason = StopReason::kMaxTokens;
  // The request's entries at the end: its context, its prompt and every
  // generated token that was fed back (all but the last).
  std::unique_ptr<PagedSequence> sequence;
  at::Tensor last_logits;     // [V] float32: after the sequence's last entry
  SamplerState sampler;       // Sampler::state() at the end
  double queued_ms = 0;       // from submit to the first step that ran it
  double first_token_ms = 0;  // from submit to the first generated token (or the prefill's end)
  double decode_ms = 0;       // every token after the first
  int preemptions = 0;
};

struct SchedulerStats {
  int64_t steps = 0, running = 0, waiting = 0, preemptions = 0;
  int64_t max_batch = 0;  // most sequences in one step
  // Time in steps that ran a forward, and in those forwards (until their
  // logits were on the host): the rest is the loop's host work.
  double step_ms = 0, forward_ms = 0;
  int64_t graph_captures = 0;  // step graphs captured (model/step_graphs.h)
  int64_t overlapped_steps = 0;  // steps queued before the previous step's tokens were read
};

class Scheduler {
 public:
  Scheduler(const LlamaModel& model, BlockPool& pool, SchedulerOptions options = {});
  // Stops the loop; requests not finished get Cancelled.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  using Handle = uint64_t;
  // Queues a request (its sampling options validated by the caller) and
  // returns its handle; `done` is called once, on the scheduler's thread,
  // with the result, and must not throw. Errors in `done`: InvalidArgument
  // (nothing to compute), ResourceExhausted (the request does not fit in the
  // whole pool), the forward's errors and exceptions (Internal), Cancelled.
  Handle submit(SequenceRequest request, std::function<void(StatusOr<SequenceResult>)> done);
  // submit() and wait for the result.
  StatusOr<SequenceResult> run(SequenceRequest request);
  // Stops a request: it ends with what it has generated (StopReason::kCallback)
  // at the next step, or with Cancelled if it has not started. Unknown or
  // finished handles are ignored.
  void cancel(Handle handle);

  SchedulerStats stats() const;
  BlockPool& pool() const { return pool_; }

 private:
  struct Active;
  // Requests that ended, with their results: done() is called outside the lock.
  using Ended = std::vector<std::pair<std::shared_ptr<Active>, StatusOr<SequenceResult>>>;
  void loop();
  // One forward over the running requests and those admitted now (`batch`
  // is scratch space kept between steps). False when nothing could run.
  bool step(std::vector<std::shared_ptr<Active>>& batch);
  // Decode steps over `rows` (their step's logits, its entries counted as
  // fed), each queued before the previous one's tokens are read, while
  // overlapping may go on; returns with no step in flight. `step_start`
  // and `forward_ms`: when the step already queued began, and its host
  // time in the forward.
  void decode_overlapped(std::vector<std::shared_ptr<Active>> rows, at::Tensor logits, Ended& ended,
                         std::chrono::steady_clock::time_point step_start, double forward_ms);
  // The tokens of `logits` ([R, V] on the model's device) for `rows` (a row
  // and its request): the argmax, or sampled with the request's options and
  // a number its sampler draws now. int64 [R] on the device, queued (rows
  // not listed hold their argmax).
  at::Tensor pick_tokens(const at::Tensor& logits, const std::vector<std::pair<int64_t, Active*>>& rows);
  // Streams `next`, the token `a` sampled; true when `a` ends with it.
  bool stream_token(Active& a, int next, Ended& ended);
  // stream_token(a, sample()), where a throwing callback or sampler ends `a`
  // alone, with Internal.
  bool sample_next(Active& a, const std::function<int()>& sample, Ended& ended);
  // Calls done() for what ended (without the lock) and empties `ended`.
  static void finish(Ended& ended);

  const LlamaModel& model_;
  BlockPool& pool_;
  const SchedulerOptions options_;
  const bool overlap_steps_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  Handle next_handle_ = 1;
  std::deque<std::shared_ptr<Active>> waiting_;   // submitted or preempted, oldest first
  std::vector<std::shared_ptr<Active>> running_;  // admitted, oldest first
  SchedulerStats stats_;
  StepGraphs graphs_;  // the loop's forward
  std::thread thread_;
};

}  // namespace pcache
