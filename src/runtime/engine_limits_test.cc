// Bad input at the engine's public calls (issue 12): snapshots whose checksum
// is valid but whose content does not fit the model, and requests that do
// not fit the model's context. Each gets a clear error, and the engine goes on.
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <functional>
#include <limits>

#include "pcache/engine.h"
#include "runtime/snapshot.h"
#include "runtime/snapshot_testing.h"
#include "testing.h"

namespace pcache {
namespace {

// tiny-mistral: max_position_embeddings 4096, vocabulary 32768.
constexpr int64_t kContext = 4096;
constexpr int kVocab = 32768;

std::unique_ptr<Engine> open_engine() {
  EngineOptions o;
  o.prefix_cache = false;
  auto e = Engine::open(testing::fixture("tiny-mistral"), o);
  BOOST_REQUIRE_MESSAGE(e.ok(), e.status().to_string());
  return std::move(e).value();
}

using testing::ok;

SamplingOptions greedy(int n) {
  SamplingOptions o;
  o.max_tokens = n;
  o.stop_at_eos = false;
  return o;
}

void expect_error(const Status& s, StatusCode code, const std::string& words) {
  BOOST_TEST(s.code() == code, s.to_string());
  BOOST_TEST(s.message().find(words) != std::string::npos, s.message());
}

// A saved state of the engine, read back, changed by `damage`, rewritten
// (with a valid checksum) and loaded: the load's status.
struct SnapshotCase {
  testing::TempDir dir;
  std::unique_ptr<Engine> engine = open_engine();
  std::string saved = dir.path + "/s.pcs";
  StateId state = 0;

  SnapshotCase() {
    state = ok(engine->cache_prompt("A state with a few tokens in it.")).state;
    BOOST_REQUIRE(engine->save(state, saved).ok());
  }
  Status load_damaged(const std::function<void(Snapshot&)>& damage) {
    Snapshot s = testing::read_engine_snapshot(saved);
    damage(s);
    const std::string path = dir.path + "/damaged.pcs";
    Status written = write_snapshot(path, s);
    BOOST_REQUIRE_MESSAGE(written.ok(), written.to_string());
    return engine->load(path).status();
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(engine_limits_test)

BOOST_AUTO_TEST_CASE(snapshot_token_ids_outside_the_vocabulary_are_refused) {
  SnapshotCase c;
  expect_error(c.load_damaged([](Snapshot& s) { s.tokens[0] = -1; }), StatusCode::kCorruption,
               "token 0 is -1, outside the vocabulary of 32768");
  expect_error(c.load_damaged([](Snapshot& s) { s.tokens[2] = kVocab; }), StatusCode::kCorruption,
               "token 2 is 32768");
  BOOST_TEST(c.engine->states().size() == 1u);
}

BOOST_AUTO_TEST_CASE(snapshot_positions_out_of_the_context_or_overlapping_are_refused) {
  SnapshotCase c;
  // Near INT64_MAX: a next position computed from it would overflow.
  expect_error(c.load_damaged([](Snapshot& s) { s.positions.back() = INT64_MAX; }),
               StatusCode::kCorruption, "outside the model's context of 4096");
  expect_error(c.load_damaged([](Snapshot& s) { s.positions[1] = -5; }), StatusCode::kCorruption,
               "position -5 is outside");
  expect_error(c.load_damaged([](Snapshot& s) { s.positions[1] = s.positions[0]; }),
               StatusCode::kCorruption, "two entries share position 0");
  // Decreasing at the end: the next token would land on an entry's position.
  expect_error(c.load_damaged([](Snapshot& s) { std::swap(s.positions[0], s.positions.back()); }),
               StatusCode::kCorruption, "is not the greatest");
  BOOST_TEST(c.engine->states().size() == 1u);
}

BOOST_AUTO_TEST_CASE(snapshot_resume_positions_are_checked) {
  SnapshotCase c;
  for (int64_t bad : {INT64_MAX, kContext + 1, int64_t{2}}) {
    expect_error(c.load_damaged([&](Snapshot& s) { s.resume_position = bad; }),
                 StatusCode::kCorruption, "resume position " + std::to_string(bad));
  }
  // Interleaved positions are what a PML prompt saves: fine with a resume point after them all.
  StateId loaded = 0;
  {
    Snapshot s = testing::read_engine_snapshot(c.saved);
    std::swap(s.positions[0], s.positions.back());
    s.resume_position = 100;
    const std::string path = c.dir.path + "/interleaved.pcs";
    BOOST_REQUIRE(write_snapshot(path, s).ok());
    loaded = ok(c.engine->load(path));
  }
  Generation g = ok(c.engine->text_completion(loaded, " more", greedy(2)));
  BOOST_TEST(g.tokens.size() == 2u);
}

BOOST_AUTO_TEST_CASE(snapshot_sampler_draws_beyond_the_tokens_are_refused) {
  SnapshotCase c;
  // Replaying 2^64 - 1 draws would hang the next continuation.
  auto endless = [](Snapshot& s) { s.sampler = SamplerState{1, UINT64_MAX}; };
  expect_error(c.load_damaged(endless), StatusCode::kCorruption,
               "the sampler drew 18446744073709551615 numbers");
  Status fits = c.load_damaged([](Snapshot& s) { s.sampler = SamplerState{1, s.tokens.size()}; });
  BOOST_TEST(fits.ok(), fits.to_string());
}

BOOST_AUTO_TEST_CASE(snapshot_logits_must_be_finite) {
  SnapshotCase c;
  expect_error(c.load_damaged([](Snapshot& s) { s.last_logits[7] = NAN; }), StatusCode::kCorruption,
               "inf or NaN");
  expect_error(c.load_damaged([](Snapshot& s) { s.last_logits[0] = INFINITY; }),
               StatusCode::kCorruption, "inf or NaN");
}

BOOST_AUTO_TEST_CASE(prompts_and_max_tokens_beyond_the_context_are_refused_before_allocating) {
  auto e = open_engine();
  const std::vector<int> too_long(kContext + 1, 100);
  expect_error(e->generate_tokens(too_long, greedy(1)).status(), StatusCode::kInvalidArgument,
               "generate: the prompt takes 4097 positions, more than the model's context of 4096");
  const std::vector<int> long_prompt(4000, 100);
  expect_error(e->generate_tokens(long_prompt, greedy(200)).status(), StatusCode::kInvalidArgument,
               "max_tokens 200 does not fit after a prompt of 4000 positions");
  expect_error(e->generate_tokens({1, 100}, greedy(std::numeric_limits<int>::max())).status(),
               StatusCode::kInvalidArgument, "at most 4094 fit");

  // States: a completion or a chat turn after a state, one or many inputs.
  StateId s = ok(e->cache_prompt("Short.")).state;
  const int64_t used = ok(e->state_info(s)).tokens;
  expect_error(e->text_completion(s, "more", greedy(kContext)).status(), StatusCode::kInvalidArgument,
               "text_completion: max_tokens 4096 does not fit");
  expect_error(e->text_completion(s, std::vector<std::string>{"a", "b"}, greedy(kContext)).status(),
               StatusCode::kInvalidArgument, "text_completion: max_tokens 4096 does not fit");
  StateId chat = ok(e->cache_chat({{"system", "Be brief."}})).state;
  expect_error(e->chat_completion(chat, "hi", greedy(std::numeric_limits<int>::max())).status(),
               StatusCode::kInvalidArgument, "chat_completion");
  BOOST_TEST(used < 10);
  // Exactly at the limit: a prompt of 4090 tokens and 6 new ones fit, 7 do not.
  const std::vector<int> at_limit(kContext - 6, 100);
  BOOST_TEST(ok(e->generate_tokens(at_limit, greedy(6))).tokens.size() == 6u);
  expect_error(e->generate_tokens(at_limit, greedy(7)).status(), StatusCode::kInvalidArgument,
               "at most 6 fit");

  // PML: the prompt's positions end after the schema.
  auto name = e->add_schema(R"(<schema name="lim"><module name="m">Some cached text.</module></schema>)");
  BOOST_TEST_REQUIRE(name.ok(), name.status().to_string());
  RunOptions run;
  run.sampling = greedy(kContext);
  expect_error(e->run(R"(<prompt schema="lim"><m/>Question</prompt>)", run).status(),
               StatusCode::kInvalidArgument, "max_tokens 4096 does not fit");
  run.use_cache = false;
  expect_error(e->run(R"(<prompt schema="lim"><m/>Question</prompt>)", run).status(),
               StatusCode::kInvalidArgument, "max_tokens 4096 does not fit");
  run.sampling = greedy(3);
  run.use_cache = true;
  BOOST_TEST(ok(e->run(R"(<prompt schema="lim"><m/>Question</prompt>)", run)).tokens.size() == 3u);
}

// Megabytes of text are refused before they are encoded (which takes seconds),
// on every path that takes text.
BOOST_AUTO_TEST_CASE(text_that_cannot_fit_is_refused_before_encoding) {
  auto e = open_engine();
  std::string huge;
  while (huge.size() < (1u << 20)) huge += "menu table dinner fish bread ";
  const std::string want = "bytes of text, at least";
  expect_error(e->generate(huge, greedy(1)).status(), StatusCode::kInvalidArgument, "generate: " + std::to_string(huge.size()));
  expect_error(e->generate_chat({{"user", huge}}, greedy(1)).status(), StatusCode::kInvalidArgument, want);
  expect_error(e->cache_prompt(huge).status(), StatusCode::kInvalidArgument, want);
  expect_error(e->cache_chat({{"user", huge}, {"assistant", "ok"}}).status(), StatusCode::kInvalidArgument,
               want);
  StateId s = ok(e->cache_prompt("Short.")).state;
  expect_error(e->text_completion(s, huge, greedy(1)).status(), StatusCode::kInvalidArgument, want);
  StateId chat = ok(e->cache_chat({{"system", "Be brief."}})).state;
  expect_error(e->chat_completion(chat, huge, greedy(1)).status(), StatusCode::kInvalidArgument, want);
  BOOST_TEST_REQUIRE(e->add_schema(R"(<schema name="t"><module name="m">Text.</module></schema>)").ok());
  RunOptions run;
  run.sampling = greedy(1);
  expect_error(e->run("<prompt schema=\"t\"><m/>" + huge + "</prompt>", run).status(),
               StatusCode::kInvalidArgument, want);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
