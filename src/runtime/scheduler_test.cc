// Continuous batching: a request's greedy tokens are the same alone, in a
// batch, joining mid-batch, prefilled in chunks, or preempted and recomputed,
// with decode steps overlapped or not (on the CPU an overlapped step is
// computed at once, but the bookkeeping is the one CUDA runs; a CUDA case
// runs them asynchronously where a GPU is).
#include "runtime/scheduler.h"

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <future>
#include <thread>

#include "model/model_testing.h"

namespace pcache {
namespace {

struct Fixture {
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<BlockPool> pool;
  explicit Fixture(int64_t blocks = 256, at::ScalarType dtype = at::kFloat, at::Device device = at::kCPU) {
    model = testing::load_fixture_model("tiny-mistral", dtype, device);  // a missing fixture fails by name
    auto created = BlockPool::create(model->config(), dtype, device, blocks);
    BOOST_REQUIRE_MESSAGE(created.ok(), created.status().to_string());
    pool = std::move(created).value();
  }
};

struct CudaPresent {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) {
    boost::test_tools::assertion_result present = at::hasCUDA();
    if (!present) present.message() << "no CUDA device";
    return present;
  }
};

std::vector<int> prompt_of(int64_t n, int seed) {
  std::vector<int> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<int>((i * 7919 + seed * 104729) % 32000 + 3);
  return v;
}

SequenceRequest request(BlockPool& pool, const std::vector<int>& prompt, int max_tokens) {
  SequenceRequest r(pool);
  r.tokens = prompt;
  for (size_t i = 0; i < prompt.size(); ++i) r.positions.push_back(static_cast<int64_t>(i));
  r.next_position = static_cast<int64_t>(prompt.size());
  r.sampling.max_tokens = max_tokens;
  r.sampling.stop_at_eos = false;
  return r;
}

// Greedy tokens of `prompt` with the dense forward, one token at a time.
std::vector<int> dense_greedy(const LlamaModel& m, const std::vector<int>& prompt, int n) {
  KVCache cache = m.new_cache(1);
  std::vector<int64_t> ids(prompt.begin(), prompt.end()), pos(prompt.size());
  for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int64_t>(i);
  std::vector<int> out;
  at::Tensor logits = m.forward_last(ids, pos, cache).value();
  for (int i = 0; i < n; ++i) {
    const int next = static_cast<int>(logits.argmax().item<int64_t>());
    out.push_back(next);
    logits = m.forward_last({next}, {static_cast<int64_t>(prompt.size()) + i}, cache).value();
  }
  return out;
}

// The same, sampling with `options` (a Sampler on the dense logits).
std::vector<int> dense_sampled(const LlamaModel& m, const std::vector<int>& prompt, int n,
                               const SamplingOptions& options) {
  KVCache cache = m.new_cache(1);
  std::vector<int64_t> ids(prompt.begin(), prompt.end()), pos(prompt.size());
  for (size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<int64_t>(i);
  Sampler sampler(options);
  std::vector<int> out;
  at::Tensor logits = m.forward_last(ids, pos, cache).value();
  for (int i = 0; i < n; ++i) {
    const int next = sampler.sample(logits);
    out.push_back(next);
    logits = m.forward_last({next}, {static_cast<int64_t>(prompt.size()) + i}, cache).value();
  }
  return out;
}

// testing::sampling, not stopping at eos.
SamplingOptions sampled(float temperature, int top_k, float top_p, uint64_t seed) {
  SamplingOptions o = testing::sampling(temperature, top_k, top_p, seed);
  o.stop_at_eos = false;
  return o;
}

using testing::ok;

SchedulerOptions overlapping(bool overlap) {
  SchedulerOptions o;
  o.overlap_steps = overlap;
  return o;
}

const auto kOverlap = boost::unit_test::data::make({false, true});

}  // namespace

BOOST_AUTO_TEST_SUITE(scheduler_test)

BOOST_DATA_TEST_CASE(alone_equals_the_dense_greedy_loop_and_frees_its_blocks, kOverlap, overlap) {
  Fixture f;
  Scheduler s(*f.model, *f.pool, overlapping(overlap));
  const std::vector<int> prompt = prompt_of(23, 1);
  SequenceResult r = ok(s.run(request(*f.pool, prompt, 9)));
  const std::vector<int> want = dense_greedy(*f.model, prompt, 9);
  BOOST_TEST(r.tokens == want);
  BOOST_TEST((r.stop_reason == StopReason::kMaxTokens));
  BOOST_TEST(r.sequence->length() == 23 + 8);  // the last token is not fed
  std::vector<int> fed = prompt;
  fed.insert(fed.end(), want.begin(), want.end() - 1);
  BOOST_TEST(r.sequence->tokens() == fed);
  // Prefill, the first decode step (plain), then 7 steps each queued
  // before the previous one's token was read.
  BOOST_TEST(s.stats().overlapped_steps == (overlap ? 7 : 0));
  r.sequence.reset();
  BOOST_TEST(f.pool->available() == f.pool->num_blocks());
}

// A request alone takes steps of max_lone_step_tokens; beside another, of
// max_step_tokens less the others' decode tokens. Overlap off: exact steps.
BOOST_AUTO_TEST_CASE(a_lone_prompt_takes_larger_steps_than_one_beside_others) {
  Fixture f;
  const std::vector<int> prompt = prompt_of(60, 3);
  const std::vector<int> want = dense_greedy(*f.model, prompt, 4);
  for (int64_t lone : {8, 64}) {
    SchedulerOptions o = overlapping(false);
    o.max_step_tokens = 8;
    o.max_lone_step_tokens = lone;
    Scheduler s(*f.model, *f.pool, o);
    BOOST_TEST_INFO("max_lone_step_tokens " << lone);
    BOOST_TEST(ok(s.run(request(*f.pool, prompt, 4))).tokens == want);
    // ceil(60 / lone) prefill steps, then 3 decode steps.
    BOOST_TEST(s.stats().steps == (lone == 8 ? 8 : 1) + 3);
  }

  // B arrives at A's first token: while A decodes, B's prefill gets 7 of
  // the 8 tokens a step, 9 steps, though max_lone_step_tokens would take it
  // whole: A has 9 or more tokens when B's first comes.
  SchedulerOptions o = overlapping(false);
  o.max_step_tokens = 8;
  o.max_lone_step_tokens = 64;
  Scheduler s(*f.model, *f.pool, o);
  const std::vector<int> a = prompt_of(5, 4);
  const std::vector<int> want_a = dense_greedy(*f.model, a, 16);
  std::promise<StatusOr<SequenceResult>> b_result;
  int a_tokens = 0, a_tokens_at_b_first = -1;
  SequenceRequest ra = request(*f.pool, a, 16);
  ra.on_token = [&](int) {
    if (++a_tokens == 1) {
      SequenceRequest rb = request(*f.pool, prompt, 4);
      rb.on_token = [&](int) {
        if (a_tokens_at_b_first < 0) a_tokens_at_b_first = a_tokens;
        return true;
      };
      s.submit(std::move(rb), [&](StatusOr<SequenceResult> r) { b_result.set_value(std::move(r)); });
    }
    return true;
  };
  BOOST_TEST(ok(s.run(std::move(ra))).tokens == want_a);
  BOOST_TEST(ok(b_result.get_future().get()).tokens == want);
  BOOST_TEST(a_tokens_at_b_first >= 9);
  BOOST_TEST(f.pool->available() == f.pool->num_blocks());
}

BOOST_DATA_TEST_CASE(many_at_once_from_threads_equal_each_alone, kOverlap, overlap) {
  Fixture f;
  std::vector<std::vector<int>> prompts;
  std::vector<int> budgets;
  for (int i = 0; i < 6; ++i) {
    prompts.push_back(prompt_of(3 + 11 * i, i));
    budgets.push_back(4 + 3 * i);
  }
  std::vector<std::vector<int>> alone;
  {
    Scheduler s(*f.model, *f.pool);
    for (int i = 0; i < 6; ++i) alone.push_back(ok(s.run(request(*f.pool, prompts[i], budgets[i]))).tokens);
  }
  SchedulerOptions o = overlapping(overlap);
  o.max_step_tokens = 40;  // long prompts are prefilled in chunks beside the others' decoding
  o.max_lone_step_tokens = 40;  // and alone too: chunks whenever the threads' timing leaves one alone
  Scheduler s(*f.model, *f.pool, o);
  std::vector<std::future<StatusOr<SequenceResult>>> results;
  for (int i = 0; i < 6; ++i) {
    results.push_back(std::async(std::launch::async, [&, i] {
      return s.run(request(*f.pool, prompts[i], budgets[i]));
    }));
  }
  for (int i = 0; i < 6; ++i) {
    SequenceResult r = ok(results[i].get());
    BOOST_TEST_INFO("request " << i);
    BOOST_TEST(r.tokens == alone[i]);
  }
  BOOST_TEST(s.stats().max_batch > 1);
  BOOST_TEST(f.pool->available() == f.pool->num_blocks());
}

BOOST_DATA_TEST_CASE(a_request_joining_mid_batch_changes_nothing, kOverlap, overlap) {
  Fixture f;
  Scheduler s(*f.model, *f.pool, overlapping(overlap));
  const std::vector<int> a = prompt_of(30, 7), b = prompt_of(12, 8);
  const std::vector<int> want_a = dense_greedy(*f.model, a, 12), want_b = dense_greedy(*f.model, b, 5);
  std::promise<StatusOr<SequenceResult>> b_result;
  SequenceRequest ra = request(*f.pool, a, 12);
  int seen = 0;
  ra.on_token = [&](int) {
    if (++seen == 4) {  // B arrives while A decodes
      s.submit(request(*f.pool, b, 5), [&](StatusOr<SequenceResult> r) { b_result.set_value(std::move(r)); });
    }
    return true;
  };
  BOOST_TEST(ok(s.run(std::move(ra))).tokens == want_a);
  BOOST_TEST(ok(b_result.get_future().get()).tokens == want_b);
}

BOOST_DATA_TEST_CASE(preempted_requests_are_recomputed_with_the_same_tokens, kOverlap, overlap) {
  Fixture f(12);  // 192 entries: the four below need 4 x 62 = 248 at their ends
  std::vector<std::vector<int>> want;
  for (int i = 0; i < 4; ++i) want.push_back(dense_greedy(*f.model, prompt_of(40, 20 + i), 22));
  Scheduler s(*f.model, *f.pool, overlapping(overlap));
  std::vector<std::promise<StatusOr<SequenceResult>>> done(4);
  auto submit = [&](int i, SequenceRequest r) {
    s.submit(std::move(r), [&, i](StatusOr<SequenceResult> x) { done[i].set_value(std::move(x)); });
  };
  // The others join at the first's first token, not when this thread gets to
  // submit them: submitted from here, the first could finish alone on a
  // loaded machine and nothing would be preempted.
  SequenceRequest first = request(*f.pool, prompt_of(40, 20), 22);
  bool joined = false;
  first.on_token = [&](int) {
    if (!joined) {
      joined = true;
      for (int i = 1; i < 4; ++i) submit(i, request(*f.pool, prompt_of(40, 20 + i), 22));
    }
    return true;
  };
  submit(0, std::move(first));
  int preempted = 0;
  for (int i = 0; i < 4; ++i) {
    SequenceResult r = ok(done[i].get_future().get());
    BOOST_TEST_INFO("request " << i);
    BOOST_TEST(r.tokens == want[i]);
    preempted += r.preemptions;
  }
  BOOST_TEST(preempted > 0);
  BOOST_TEST(s.stats().preemptions == preempted);
  BOOST_TEST(f.pool->available() == f.pool->num_blocks());
}

BOOST_DATA_TEST_CASE(too_large_for_the_pool_cancel_and_bad_requests, kOverlap, overlap) {
  Fixture f(2);  // 32 entries
  Scheduler s(*f.model, *f.pool, overlapping(overlap));
  auto big = s.run(request(*f.pool, prompt_of(40, 1), 2));
  BOOST_TEST(big.status().code() == StatusCode::kResourceExhausted);
  BOOST_TEST(big.status().message().find("does not fit in the KV block pool") != std::string::npos,
             big.status().message());
  BOOST_TEST(s.run(request(*f.pool, {}, 2)).status().code() == StatusCode::kInvalidArgument);

  // Cancelled while decoding: ends with what it has, blocks back.
  std::promise<StatusOr<SequenceResult>> result;
  Scheduler::Handle h = 0;
  SequenceRequest r = request(*f.pool, prompt_of(5, 2), 20);
  int seen = 0;
  r.on_token = [&](int) {
    if (++seen == 3) s.cancel(h);
    return true;
  };
  h = s.submit(std::move(r), [&](StatusOr<SequenceResult> x) { result.set_value(std::move(x)); });
  SequenceResult got = ok(result.get_future().get());
  BOOST_TEST((got.stop_reason == StopReason::kCallback));
  BOOST_TEST(got.tokens.size() >= 3u);
  BOOST_TEST(got.tokens.size() < 20u);
  got.sequence.reset();
  BOOST_TEST(f.pool->available() == 2);
  BOOST_TEST(f.pool->stats().in_use == 0);
}

BOOST_DATA_TEST_CASE(a_throwing_callback_ends_its_request_alone, kOverlap, overlap) {
  Fixture f;
  Scheduler s(*f.model, *f.pool, overlapping(overlap));
  const std::vector<int> prompt = prompt_of(9, 5);
  SequenceRequest bad = request(*f.pool, prompt, 8);
  bad.on_token = [](int) -> bool { throw std::runtime_error("client went away"); };
  auto good = std::async(std::launch::async, [&] { return s.run(request(*f.pool, prompt, 8)); });
  auto failed = s.run(std::move(bad));
  BOOST_TEST(failed.status().code() == StatusCode::kInternal);
  BOOST_TEST(failed.status().message().find("client went away") != std::string::npos);
  BOOST_TEST(ok(good.get()).tokens == dense_greedy(*f.model, prompt, 8));
  BOOST_TEST(ok(s.run(request(*f.pool, prompt, 3))).tokens.size() == 3u);
  BOOST_TEST(f.pool->available() == f.pool->num_blocks());
}

BOOST_DATA_TEST_CASE(prefill_only_gives_the_last_logits_on_a_shared_context, kOverlap, overlap) {
  Fixture f;
  Scheduler s(*f.model, *f.pool, overlapping(overlap));
  const std::vector<int> prefix = prompt_of(20, 3), rest = prompt_of(6, 4);
  SequenceRequest first = request(*f.pool, prefix, 1);
  first.prefill_only = true;
  SequenceResult state = ok(s.run(std::move(first)));
  BOOST_TEST(state.tokens.empty());
  BOOST_TEST(state.sequence->length() == 20);
  // Two continuations on the shared state, at once.
  SequenceRequest x = request(*f.pool, rest, 6);
  x.context = state.sequence->share();
  for (auto& p : x.positions) p += 20;
  x.next_position += 20;
  SequenceRequest y(*f.pool);
  y.context = state.sequence->share();
  y.tokens = {rest[0]};
  y.positions = {20};
  y.next_position = 21;
  y.sampling = x.sampling;
  auto fx = std::async(std::launch::async, [&] { return s.run(std::move(x)); });
  auto fy = std::async(std::launch::async, [&] { return s.run(std::move(y)); });
  std::vector<int> all = prefix;
  all.insert(all.end(), rest.begin(), rest.end());
  BOOST_TEST(ok(fx.get()).tokens == dense_greedy(*f.model, all, 6));
  std::vector<int> first_of_rest = prefix;
  first_of_rest.push_back(rest[0]);
  BOOST_TEST(ok(fy.get()).tokens == dense_greedy(*f.model, first_of_rest, 6));
}

// Sampled requests, tokens picked where the logits are: alone, the dense
// loop's tokens with the same seed, one draw a token overlapped or not
// (also when a callback stops one mid-overlap); beside each other with
// other options (sampled in groups by options), each its own.
BOOST_DATA_TEST_CASE(sampled_requests_draw_their_numbers_in_order, kOverlap, overlap) {
  Fixture f;
  const std::vector<int> prompt = prompt_of(13, 21);
  const std::vector<SamplingOptions> options = {sampled(0.8f, 40, 1.f, 5), sampled(1.2f, 0, 0.9f, 6),
                                                sampled(0.f, 0, 1.f, 0), sampled(0.8f, 40, 1.f, 7)};
  std::vector<std::vector<int>> alone;
  for (const SamplingOptions& o : options) alone.push_back(dense_sampled(*f.model, prompt, 18, o));
  BOOST_TEST(alone[0] != alone[3]);  // another seed, another stream
  Scheduler s(*f.model, *f.pool, overlapping(overlap));
  for (size_t i = 0; i < options.size(); ++i) {
    SequenceRequest r = request(*f.pool, prompt, 18);
    r.sampling = options[i];
    r.sampling.max_tokens = 18;
    SequenceResult got = ok(s.run(std::move(r)));
    BOOST_TEST_INFO("request " << i);
    BOOST_TEST(got.tokens == alone[i]);
    BOOST_TEST(got.sampler.draws == (options[i].temperature > 0 ? 18u : 0u));
  }
  BOOST_TEST((s.stats().overlapped_steps > 0) == overlap);
  // Stopped by its callback at the 7th token: 7 draws, the entries of 6.
  SequenceRequest stopped = request(*f.pool, prompt, 18);
  stopped.sampling = options[1];
  stopped.sampling.max_tokens = 18;
  int seen = 0;
  stopped.on_token = [&seen](int) { return ++seen < 7; };
  SequenceResult cut = ok(s.run(std::move(stopped)));
  BOOST_TEST(cut.tokens == std::vector<int>(alone[1].begin(), alone[1].begin() + 7));
  BOOST_TEST(cut.sampler.draws == 7u);
  BOOST_TEST(cut.sequence->length() == 13 + 6);
  // All four at once, from threads.
  std::vector<std::future<StatusOr<SequenceResult>>> together;
  for (const SamplingOptions& o : options) {
    together.push_back(std::async(std::launch::async, [&, o] {
      SequenceRequest r = request(*f.pool, prompt, 18);
      r.sampling = o;
      r.sampling.max_tokens = 18;
      return s.run(std::move(r));
    }));
  }
  for (size_t i = 0; i < options.size(); ++i) {
    BOOST_TEST_INFO("request " << i << " in a batch");
    BOOST_TEST(ok(together[i].get()).tokens == alone[i]);
  }
}

// A request that its callback stops while the next step is queued: that
// step's entry is dropped, and the result is the plain loop's.
BOOST_AUTO_TEST_CASE(a_stop_after_an_overlapped_step_drops_its_entry) {
  Fixture f;
  const std::vector<int> a = prompt_of(17, 11), b = prompt_of(6, 12);
  auto run_both = [&](bool overlap) {
    Scheduler s(*f.model, *f.pool, overlapping(overlap));
    SequenceRequest ra = request(*f.pool, a, 30), rb = request(*f.pool, b, 12);
    int seen = 0;
    ra.on_token = [&seen](int) { return ++seen < 6; };  // stops at its 6th token
    auto fb = std::async(std::launch::async, [&] { return s.run(std::move(rb)); });
    SequenceResult x = ok(s.run(std::move(ra)));
    SequenceResult y = ok(fb.get());
    return std::make_tuple(std::move(x), std::move(y), s.stats().overlapped_steps);
  };
  auto [plain_a, plain_b, none] = run_both(false);
  auto [over_a, over_b, overlapped] = run_both(true);
  BOOST_TEST(none == 0);
  BOOST_TEST(overlapped > 0);
  BOOST_TEST((over_a.stop_reason == StopReason::kCallback));
  BOOST_TEST(over_a.tokens.size() == 6u);
  BOOST_TEST(over_a.tokens == plain_a.tokens);
  BOOST_TEST(over_a.sequence->length() == 17 + 5);
  BOOST_TEST(over_a.sequence->tokens() == plain_a.sequence->tokens());
  BOOST_TEST(at::allclose(over_a.last_logits, plain_a.last_logits, 1e-5, 1e-5));
  BOOST_TEST(over_b.tokens == plain_b.tokens);
  BOOST_TEST(over_b.tokens == dense_greedy(*f.model, b, 12));
  BOOST_TEST(over_b.sequence->tokens() == plain_b.sequence->tokens());
  for (SequenceResult* r : {&plain_a, &plain_b, &over_a, &over_b}) r->sequence.reset();
  BOOST_TEST(f.pool->available() == f.pool->num_blocks());
}

// On CUDA (bfloat16, with the step graphs where the kernels are built) the
// overlapped steps run asynchronously: ids fed on the device, tokens read
// back behind the next step. Alone (the same batch every step either way),
// a request's tokens, entries and last logits are the plain loop's, also
// when its callback stops it mid-overlap, and when it samples (stop_at -1).
BOOST_AUTO_TEST_CASE(on_cuda_overlapped_steps_equal_plain_ones, *boost::unit_test::precondition(CudaPresent())) {
  Fixture f(256, at::kBFloat16, at::Device(at::kCUDA));
  auto run = [&](bool overlap, const std::vector<int>& prompt, int max_tokens, int stop_at) {
    Scheduler s(*f.model, *f.pool, overlapping(overlap));
    SequenceRequest r = request(*f.pool, prompt, max_tokens);
    if (stop_at < 0) {  // sampled on the GPU
      r.sampling = sampled(0.8f, 0, 0.9f, 3);
      r.sampling.max_tokens = max_tokens;
    }
    int seen = 0;
    if (stop_at > 0) r.on_token = [&seen, stop_at](int) { return ++seen < stop_at; };
    SequenceResult out = ok(s.run(std::move(r)));
    BOOST_TEST((s.stats().overlapped_steps > 0) == overlap);
    return out;
  };
  for (const auto& [length, max_tokens, stop_at] :
       std::vector<std::tuple<int, int, int>>{{7, 24, 0}, {40, 16, 0}, {19, 30, 9}, {23, 20, -1}}) {
    BOOST_TEST_INFO("prompt " << length << ", " << max_tokens << " tokens, stop at " << stop_at);
    const std::vector<int> prompt = prompt_of(length, length);
    SequenceResult plain = run(false, prompt, max_tokens, stop_at);
    SequenceResult overlapped = run(true, prompt, max_tokens, stop_at);
    BOOST_TEST(overlapped.tokens == plain.tokens);
    BOOST_TEST(overlapped.tokens.size() == static_cast<size_t>(stop_at > 0 ? stop_at : max_tokens));
    BOOST_TEST(overlapped.sampler.draws == plain.sampler.draws);
    BOOST_TEST(overlapped.sequence->tokens() == plain.sequence->tokens());
    BOOST_TEST(at::equal(overlapped.last_logits, plain.last_logits));
  }
  BOOST_TEST(f.pool->available() == f.pool->num_blocks());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
