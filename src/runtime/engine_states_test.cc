#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "pcache/engine.h"
#include "runtime/snapshot_testing.h"
#include "testing.h"

namespace pcache {
namespace {

std::unique_ptr<Engine> open_engine(const std::string& name = "tiny-mistral", int max_states = 8) {
  EngineOptions o;
  o.max_states = max_states;
  o.prefix_cache = false;  // every comparison below is against a plain prefill
  auto e = Engine::open(testing::fixture(name), o);
  BOOST_REQUIRE_MESSAGE(e.ok(), e.status().to_string());
  return std::move(e).value();
}

SamplingOptions greedy(int n = 6) {
  SamplingOptions o;
  o.max_tokens = n;
  o.stop_at_eos = false;
  return o;
}

std::vector<int> concat(std::vector<int> a, const std::vector<int>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

using testing::ok;

}  // namespace

BOOST_AUTO_TEST_SUITE(engine_states_test)

BOOST_AUTO_TEST_CASE(text_completion_equals_a_full_prefill_and_keeps_the_state) {
  auto e = open_engine();
  const Tokenizer& tok = *ok(e->tokenizer());
  const std::string instructions = "Classify the sentiment of the review as positive or negative.";
  CachedPrompt cached = ok(e->cache_prompt(instructions));
  BOOST_TEST(cached.steps.size() == 3u);
  BOOST_TEST(cached.steps[1].step == "eval");
  const int before = ok(e->state_info(cached.state)).tokens;
  for (const std::string input : {"Review: great food.", "Review: cold soup and a long wait."}) {
    Generation g = ok(e->text_completion(cached.state, input, greedy()));
    std::vector<int> all = concat(concat({tok.bos_id()}, tok.encode(instructions)), tok.encode(input));
    Generation full = ok(e->generate_tokens(all, greedy()));
    BOOST_TEST(g.tokens == full.tokens);
    BOOST_TEST(g.timings.cached_tokens == before);
    BOOST_TEST(g.steps[0].step == "load_state");
    BOOST_TEST(g.steps[1].step == "eval_prompt");
  }
  BOOST_TEST(ok(e->state_info(cached.state)).tokens == before);  // untouched
  // Empty input: the saved last logits give the first token.
  Generation g = ok(e->text_completion(cached.state, "", greedy()));
  Generation full = ok(e->generate_tokens(concat({tok.bos_id()}, tok.encode(instructions)), greedy()));
  BOOST_TEST(g.tokens == full.tokens);
}

// Token ids prefilled once (no bos added), then continued from as often as
// wanted: a lone run's tokens, each time (how a server answers n > 1).
BOOST_AUTO_TEST_CASE(cached_tokens_continue_as_a_full_run) {
  auto e = open_engine();
  const Tokenizer& tok = *ok(e->tokenizer());
  const std::vector<int> ids = concat({tok.bos_id()}, tok.encode("A short list of colours:"));
  CachedPrompt cached = ok(e->cache_tokens(ids));
  BOOST_TEST(cached.tokens == static_cast<int>(ids.size()));
  Generation full = ok(e->generate_tokens(ids, greedy()));
  for (int i = 0; i < 2; ++i)
    BOOST_TEST(ok(e->text_completion(cached.state, "", greedy())).tokens == full.tokens);
  BOOST_TEST(e->cache_tokens({}).status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(e->cache_tokens({1, 1 << 30}).status().code() == StatusCode::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(batched_inputs_equal_one_by_one) {
  auto e = open_engine();
  CachedPrompt cached = ok(e->cache_prompt("Answer with one word."));
  const std::vector<std::string> inputs = {"Colour of the sky?", "Opposite of hot, in a single word please?", "Two plus two?"};
  SamplingOptions o = greedy(7);
  std::vector<Generation> batch = ok(e->text_completion(cached.state, inputs, o));
  BOOST_REQUIRE(batch.size() == inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    Generation one = ok(e->text_completion(cached.state, inputs[i], o));
    BOOST_TEST_INFO(inputs[i]);
    BOOST_TEST(batch[i].tokens == one.tokens);
    BOOST_TEST(batch[i].text == one.text);
  }
  // Sampling: each row has its own generator seeded as a lone run would be.
  o.temperature = 1.0f;
  o.seed = 9;
  batch = ok(e->text_completion(cached.state, inputs, o));
  for (size_t i = 0; i < inputs.size(); ++i) {
    BOOST_TEST(batch[i].tokens == ok(e->text_completion(cached.state, inputs[i], o)).tokens);
  }
}

BOOST_AUTO_TEST_CASE(chat_turns_prefill_only_the_new_line) {
  auto e = open_engine();
  CachedPrompt start = ok(e->cache_chat({{"system", "You are a helpful host."}}));
  ChatResult first = ok(e->chat_completion(start.state, "Do you have a table for two?", greedy(5)));
  const StateInfo after_first = ok(e->state_info(first.state));
  BOOST_TEST(after_first.parent == start.state);
  BOOST_TEST(after_first.tokens > start.tokens);
  ChatResult second = ok(e->chat_completion(first.state, "At eight?", greedy(5)));
  BOOST_TEST(second.generation.timings.cached_tokens == after_first.tokens);
  BOOST_TEST(second.generation.timings.prompt_tokens - after_first.tokens < 10);
  // The same conversation from scratch (its tokens re-made by cache_chat) gives the same answer.
  CachedPrompt replay = ok(e->cache_chat({{"system", "You are a helpful host."},
                                          {"user", "Do you have a table for two?"},
                                          {"assistant", first.generation.text}}));
  BOOST_TEST(ok(e->state_info(replay.state)).tokens >= after_first.tokens - 1);
  // Continuing the saved state equals running the full token sequence in one prefill.
  ChatResult again = ok(e->chat_completion(first.state, "At eight?", greedy(5)));
  BOOST_TEST(again.generation.tokens == second.generation.tokens);
}

BOOST_AUTO_TEST_CASE(undo_regenerate_and_fork) {
  auto e = open_engine();
  CachedPrompt start = ok(e->cache_chat({{"system", "Be brief."}}));
  SamplingOptions o = greedy(6);
  o.temperature = 1.0f;
  o.seed = 1;
  ChatResult a = ok(e->chat_completion(start.state, "Name a fruit.", o));
  // Undo: back to the start, answer again with another seed.
  BOOST_TEST(ok(e->restore(start.state)) == start.state);
  o.seed = 2;
  ChatResult b = ok(e->chat_completion(start.state, "Name a fruit.", o));
  BOOST_TEST(a.generation.tokens != b.generation.tokens);
  BOOST_TEST(a.state != b.state);
  BOOST_TEST(ok(e->state_info(a.state)).tokens > 0);  // the first branch is still there
  // Fork: two conversations from one state share its K/V.
  StateId f = ok(e->fork(a.state));
  const StateInfo fi = ok(e->state_info(f)), ai = ok(e->state_info(a.state));
  BOOST_TEST(fi.tokens == ai.tokens);
  BOOST_TEST(fi.total_bytes == ai.total_bytes);
  ChatResult x = ok(e->chat_completion(f, "And a vegetable?", greedy(4)));
  ChatResult y = ok(e->chat_completion(a.state, "And a colour?", greedy(4)));
  BOOST_TEST(ok(e->state_info(x.state)).parent == f);
  BOOST_TEST(ok(e->state_info(y.state)).parent == a.state);
  // own_bytes counts only what a turn added
  BOOST_TEST(ok(e->state_info(x.state)).own_bytes < ok(e->state_info(x.state)).total_bytes);
}

BOOST_AUTO_TEST_CASE(least_recently_used_states_are_evicted) {
  auto e = open_engine("tiny-mistral", 3);
  StateId s1 = ok(e->cache_prompt("one")).state;
  StateId s2 = ok(e->cache_prompt("two")).state;
  StateId s3 = ok(e->cache_prompt("three")).state;
  BOOST_REQUIRE(e->restore(s1).ok());  // s2 is now the least recent
  StateId s4 = ok(e->cache_prompt("four")).state;
  BOOST_TEST(e->states().size() == 3u);
  Status gone = e->state_info(s2).status();
  BOOST_TEST(gone.code() == StatusCode::kNotFound);
  auto evicted = e->text_completion(s2, "x", greedy());
  BOOST_TEST(evicted.status().message().find("evicted") != std::string::npos);
  BOOST_TEST(e->release(s3).ok());
  BOOST_TEST(e->text_completion(s3, "x", greedy()).status().message().find("released") != std::string::npos);
  BOOST_TEST(e->release(s3).code() == StatusCode::kNotFound);
  BOOST_TEST(e->states().front().id == s4);
  BOOST_TEST(e->text_completion(s1, "x", greedy()).ok());
}

// States are budgeted in bytes too: shared blocks count once, and beyond
// the budget the least recently used go, whatever max_states allows.
BOOST_AUTO_TEST_CASE(states_beyond_their_byte_budget_are_evicted) {
  EngineOptions o;
  o.prefix_cache = false;
  o.max_states = 100;
  auto probe = Engine::open(testing::fixture("tiny-mistral"), o);
  BOOST_REQUIRE(probe.ok());
  std::string text;  // several blocks of K/V
  for (int i = 0; i < 12; ++i) text += "The cat sat on the mat " + std::to_string(i) + ". ";
  const StateInfo one = ok((*probe)->state_info(ok((*probe)->cache_prompt(text)).state));
  o.max_state_bytes = 2 * one.total_bytes + one.total_bytes / 2;  // room for two such states
  auto e = std::move(Engine::open(testing::fixture("tiny-mistral"), o)).value();
  StateId a = ok(e->cache_prompt(text)).state;
  StateId fork_a = ok(e->fork(a));  // shares every block: costs nothing
  StateId b = ok(e->cache_prompt(text + "b")).state;
  BOOST_TEST(e->states().size() == 3u);
  StateId c = ok(e->cache_prompt(text + "c")).state;  // a and its fork are the oldest
  BOOST_TEST(e->state_info(a).status().code() == StatusCode::kNotFound);
  BOOST_TEST(e->state_info(fork_a).status().code() == StatusCode::kNotFound);
  BOOST_TEST(e->state_info(b).ok());
  BOOST_TEST(e->state_info(c).ok());
  BOOST_TEST(e->text_completion(a, "x", greedy()).status().message().find("MiB of their K/V") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(snapshots_round_trip_across_engines) {
  testing::TempDir dir;
  auto a = open_engine();
  CachedPrompt start = ok(a->cache_chat({{"system", "You know the menu."}}));
  ChatResult turn = ok(a->chat_completion(start.state, "What is the soup today?", greedy(5)));
  const std::string path = dir.path + "/chat.pcs";
  BOOST_REQUIRE_MESSAGE(a->save(turn.state, path).ok(), a->save(turn.state, path).to_string());
  auto b = open_engine();  // another engine: as another process would
  StateId loaded = ok(b->load(path));
  BOOST_TEST(ok(b->next_token_logits(loaded)) == ok(a->next_token_logits(turn.state)));
  BOOST_TEST(ok(b->state_info(loaded)).tokens == ok(a->state_info(turn.state)).tokens);
  BOOST_TEST(ok(b->chat_completion(loaded, "And dessert?", greedy(5))).generation.tokens ==
             ok(a->chat_completion(turn.state, "And dessert?", greedy(5))).generation.tokens);
  // int8 snapshots: smaller, and the next token unchanged on this model.
  const std::string small = dir.path + "/chat-int8.pcs";
  BOOST_REQUIRE(a->save(turn.state, small, /*int8=*/true).ok());
  BOOST_TEST(std::filesystem::file_size(small) < std::filesystem::file_size(path));
  StateId q = ok(b->load(small));
  BOOST_TEST(ok(b->chat_completion(q, "And dessert?", greedy(1))).generation.tokens ==
             ok(a->chat_completion(turn.state, "And dessert?", greedy(1))).generation.tokens);
}

// A sampled chat turn's state keeps where its sampler stopped: the next turn
// with the same seed goes on along that stream, in this engine and in one
// that loads the state from a snapshot (format version 2).
BOOST_AUTO_TEST_CASE(a_sampled_turn_resumes_its_sampler_in_memory_and_from_a_snapshot) {
  testing::TempDir dir;
  auto a = open_engine();
  SamplingOptions o = greedy(6);
  o.temperature = 1.0f;
  o.seed = 7;
  CachedPrompt start = ok(a->cache_chat({{"system", "Be brief."}}));
  ChatResult turn = ok(a->chat_completion(start.state, "Name a fruit.", o));
  const std::string path = dir.path + "/turn.pcs";
  BOOST_REQUIRE(a->save(turn.state, path).ok());
  Snapshot snap = testing::read_engine_snapshot(path);
  BOOST_REQUIRE(snap.sampler.has_value());
  BOOST_TEST(snap.sampler->seed == 7u);
  BOOST_TEST(snap.sampler->draws == 6u);  // one a sampled token
  // The same state without its sampler, as a version-1 file loads.
  snap.sampler.reset();
  const std::string fresh_path = dir.path + "/fresh.pcs";
  BOOST_REQUIRE(write_snapshot(fresh_path, snap).ok());

  auto b = open_engine();
  const StateId loaded = ok(b->load(path)), fresh = ok(b->load(fresh_path));
  const std::vector<int> here = ok(a->chat_completion(turn.state, "Another?", o)).generation.tokens;
  BOOST_TEST(ok(b->chat_completion(loaded, "Another?", o)).generation.tokens == here);
  BOOST_TEST(ok(b->text_completion(loaded, " Or", o)).tokens ==
             ok(a->text_completion(turn.state, " Or", o)).tokens);
  // Without the saved sampler the generator starts over: other numbers, other tokens.
  BOOST_TEST(ok(b->chat_completion(fresh, "Another?", o)).generation.tokens != here);
  // Another seed is a new stream whether or not the state has one.
  o.seed = 8;
  BOOST_TEST(ok(b->chat_completion(loaded, "Another?", o)).generation.tokens ==
             ok(b->chat_completion(fresh, "Another?", o)).generation.tokens);
}

// A file of format version 1, as the engine wrote it before the state fields
// (a greedy chat turn after a system prompt, tests/fuzz/write_seeds.cc), still
// loads; saved again it is version 2, and both continue alike.
BOOST_AUTO_TEST_CASE(version_1_snapshots_still_load) {
  testing::TempDir dir;
  auto e = open_engine();
  const std::string v1 = std::string(PCACHE_SOURCE_DIR) + "/tests/fuzz/corpus/snapshot/chat-v1.pcs";
  const StateId old = ok(e->load(v1));
  BOOST_TEST(!testing::read_engine_snapshot(v1).sampler.has_value());
  const std::string v2 = dir.path + "/chat.pcs";
  BOOST_REQUIRE(e->save(old, v2).ok());
  const StateId again = ok(e->load(v2));
  BOOST_TEST(ok(e->state_info(again)).tokens == ok(e->state_info(old)).tokens);
  BOOST_TEST(ok(e->next_token_logits(again)) == ok(e->next_token_logits(old)));
  BOOST_TEST(ok(e->chat_completion(again, "And then?", greedy(4))).generation.tokens ==
             ok(e->chat_completion(old, "And then?", greedy(4))).generation.tokens);
}

BOOST_AUTO_TEST_CASE(bad_snapshots_leave_the_engine_alone) {
  testing::TempDir dir;
  auto e = open_engine();
  StateId s = ok(e->cache_prompt("Keep this state.")).state;
  const std::string path = dir.path + "/s.pcs";
  BOOST_REQUIRE(e->save(s, path).ok());
  const size_t live = e->states().size();
  const auto size = std::filesystem::file_size(path);

  const std::string cut = dir.path + "/cut.pcs";
  std::filesystem::copy_file(path, cut);
  std::filesystem::resize_file(cut, size / 2);
  BOOST_TEST(e->load(cut).status().code() == StatusCode::kCorruption);

  const std::string flipped = dir.path + "/flipped.pcs";
  std::filesystem::copy_file(path, flipped);
  {
    std::fstream f(flipped, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size - 100));
    f.put('\x7f');
  }
  BOOST_TEST(e->load(flipped).status().code() == StatusCode::kCorruption);
  BOOST_TEST(e->load(dir.path + "/missing.pcs").status().code() == StatusCode::kNotFound);

  auto other = open_engine("tiny-llama");
  Status foreign = other->load(path).status();
  BOOST_TEST(foreign.code() == StatusCode::kFailedPrecondition);

  BOOST_TEST(e->states().size() == live);
  BOOST_TEST(e->text_completion(s, "still fine", greedy(2)).ok());
  BOOST_TEST(e->save(s, dir.path + "/no/such/folder/s.pcs").code() == StatusCode::kIoError);
}

BOOST_AUTO_TEST_CASE(concurrent_sessions_match_sequential_ones) {
  auto e = open_engine("tiny-mistral", 64);
  const std::vector<std::string> systems = {"You sell bread.", "You sell fish.", "You sell shoes.", "You sell maps."};
  std::vector<std::vector<int>> sequential;
  for (const auto& s : systems) {
    StateId st = ok(e->cache_chat({{"system", s}})).state;
    ChatResult r1 = ok(e->chat_completion(st, "What do you have?", greedy(4)));
    ChatResult r2 = ok(e->chat_completion(r1.state, "How much?", greedy(4)));
    sequential.push_back(concat(r1.generation.tokens, r2.generation.tokens));
  }
  std::vector<std::vector<int>> parallel(systems.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < systems.size(); ++i) {
    threads.emplace_back([&, i] {
      auto st = e->cache_chat({{"system", systems[i]}});
      if (!st.ok()) return;
      auto r1 = e->chat_completion(st->state, "What do you have?", greedy(4));
      if (!r1.ok()) return;
      auto r2 = e->chat_completion(r1->state, "How much?", greedy(4));
      if (!r2.ok()) return;
      parallel[i] = concat(r1->generation.tokens, r2->generation.tokens);
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(parallel == sequential);
}

BOOST_AUTO_TEST_CASE(bad_requests) {
  auto e = open_engine();
  BOOST_TEST(e->text_completion(12345, "x", greedy()).status().code() == StatusCode::kNotFound);
  StateId s = ok(e->cache_chat({{"system", "x"}})).state;
  BOOST_TEST(e->chat_completion(s, {{"assistant", "hi"}}, greedy()).status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(e->cache_chat({{"user", "no answer"}}).status().code() == StatusCode::kInvalidArgument);
  SamplingOptions bad = greedy();
  bad.top_p = 0;
  BOOST_TEST(e->text_completion(s, "x", bad).status().code() == StatusCode::kInvalidArgument);
  EngineOptions o;
  o.max_states = 0;
  BOOST_TEST(Engine::open(testing::fixture("tiny-mistral"), o).status().message().find("max_states") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(text_after_a_pml_state_starts_after_the_schema) {
  // Module b is not imported, so the schema ends after the cached text: new
  // text goes at the schema's total length whether it comes with the prompt
  // or later on the saved state, and whether the state was saved to a file.
  auto e = open_engine();
  BOOST_REQUIRE(e->add_schema(R"(<schema name="s" mode="independent">Notes.
      <module name="a">The lake has boats.</module><module name="b">The forest has long walks and tall trees.</module></schema>)")
                    .ok());
  RunOptions o;
  o.sampling = greedy();
  Generation direct = ok(e->run(R"(<prompt schema="s"><a/>Where to?</prompt>)", o));
  StateId state = ok(e->cache_pml(R"(<prompt schema="s"><a/></prompt>)")).state;
  BOOST_TEST(ok(e->text_completion(state, "Where to?", greedy())).tokens == direct.tokens);
  testing::TempDir dir;
  BOOST_REQUIRE(e->save(state, dir.path + "/s.pcs").ok() == false);  // no logits yet: nothing to save
  StateId longer = ok(e->cache_pml(R"(<prompt schema="s"><a/>Where</prompt>)")).state;
  BOOST_REQUIRE(e->save(longer, dir.path + "/l.pcs").ok());
  StateId loaded = ok(e->load(dir.path + "/l.pcs"));
  BOOST_TEST(ok(e->text_completion(loaded, " to?", greedy())).tokens ==
             ok(e->text_completion(longer, " to?", greedy())).tokens);
}

BOOST_AUTO_TEST_CASE(batches_keep_the_sliding_window) {
  // tiny-mistral with an 8-position window: batched rows must see what lone runs see.
  testing::TempDir dir;
  namespace fs = std::filesystem;
  for (const char* f : {"model.safetensors", "tokenizer.model"}) {
    fs::copy_file(testing::fixture("tiny-mistral") + "/" + f, dir.path + "/" + f);
  }
  std::ifstream in(testing::fixture("tiny-mistral") + "/config.json");
  std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  config.replace(config.find("\"sliding_window\": null"), 22, "\"sliding_window\": 8");
  std::ofstream(dir.path + "/config.json") << config;
  EngineOptions o;
  o.prefix_cache = false;
  auto e = ok(Engine::open(dir.path, o));
  StateId s = ok(e->cache_prompt("A prompt long enough to be longer than the window of eight positions.")).state;
  const std::vector<std::string> inputs = {"First question here?", "Second?"};
  auto batch = ok(e->text_completion(s, inputs, greedy(6)));
  for (size_t i = 0; i < inputs.size(); ++i) {
    BOOST_TEST(batch[i].tokens == ok(e->text_completion(s, inputs[i], greedy(6))).tokens);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
