// The serving core seen through the Engine: calls made at once from many
// threads answer as each does alone, and once they return the pool's blocks
// are held by live states only; forks and PML prompts share blocks instead
// of copying them.
#include <boost/test/unit_test.hpp>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "pcache/engine.h"
#include "testing.h"

namespace pcache {
namespace {

// Modules longer than a block, so that sharing them shows in block counts.
constexpr const char* kSchema = R"(<schema name="shop">
  <system>You answer questions about a bakery in one short sentence, politely.</system>
  <module name="bread">Bread: sourdough, rye, baguettes and brioche, baked every morning at five.</module>
  <module name="cakes">Cakes: lemon tart, chocolate cake, carrot cake and cheesecake, sold by the slice.</module>
</schema>)";
constexpr const char* kPrompt =
    R"(<prompt schema="shop"><bread/><cakes/><user>What is baked at five?</user></prompt>)";

SamplingOptions greedy(int n = 5) {
  SamplingOptions o;
  o.max_tokens = n;
  o.stop_at_eos = false;
  return o;
}

using testing::ok;

std::unique_ptr<Engine> open_engine() {
  EngineOptions o;
  o.max_states = 64;  // the threads' states never evict the shared ones
  auto e = ok(Engine::open(testing::fixture("tiny-mistral"), o));
  BOOST_REQUIRE(e->add_schema(kSchema).ok());
  return e;
}

std::string ids(const StatusOr<Generation>& g) {
  if (!g.ok()) return "error: " + g.status().to_string();
  std::string s;
  for (int id : g->tokens) s += std::to_string(id) + " ";
  return s;
}

int64_t blocks_in_use(const Engine& e) { return e.serving_stats().blocks_in_use; }

int64_t blocks_of(const Engine& e, StateId s) {
  return ok(e.state_info(s)).total_bytes / e.serving_stats().block_bytes;
}

// States every call below starts from, made before the calls.
struct Shared {
  StateId prompt, chat;
  explicit Shared(Engine& e)
      : prompt(ok(e.cache_prompt("Reviews of the bakery follow, one a line.")).state),
        chat(ok(e.cache_chat({{"system", "You sell bread."}})).state) {}
};

// Each call releases whatever state it makes.
std::vector<std::function<std::string(Engine&, const Shared&)>> calls() {
  std::vector<std::function<std::string(Engine&, const Shared&)>> c;
  // Longer than two blocks: repeated, they reuse their prefix.
  for (const char* text :
       {"Once upon a time, in a bakery by the sea, a baker rose every morning at five to bake "
        "bread for the whole town, and",
        "The capital of France is Paris, a city of bakeries, where every street has one that "
        "sells baguettes, croissants and"}) {
    c.push_back([text](Engine& e, const Shared&) { return ids(e.generate(text, greedy())); });
  }
  for (const char* question : {"What is baked at five?", "Which cakes are there?"}) {
    c.push_back([question](Engine& e, const Shared&) {
      RunOptions o;
      o.sampling = greedy();
      return ids(e.run(std::string(R"(<prompt schema="shop"><bread/><cakes/><user>)") + question +
                           "</user></prompt>",
                       o));
    });
  }
  for (const char* review : {" Great rye.", " The tart was dry."}) {
    c.push_back([review](Engine& e, const Shared& s) {
      return ids(e.text_completion(s.prompt, review, greedy()));
    });
  }
  for (const char* question : {"What do you have?", "Is there rye?"}) {
    c.push_back([question](Engine& e, const Shared& s) {
      auto r = e.chat_completion(s.chat, question, greedy());
      if (!r.ok()) return "error: " + r.status().to_string();
      (void)e.release(r->state);
      return ids(r->generation);
    });
  }
  return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(engine_serving_test)

BOOST_AUTO_TEST_CASE(calls_at_once_answer_as_alone_and_leave_blocks_only_to_states) {
  const auto work = calls();
  std::vector<std::string> expected;
  for (const auto& call : work) {
    auto e = open_engine();  // each call alone on an engine of its own
    Shared shared(*e);
    expected.push_back(call(*e, shared));
    BOOST_TEST_REQUIRE(expected.back().rfind("error", 0) != 0, expected.back());
  }

  auto e = open_engine();
  Shared shared(*e);
  const int64_t held = blocks_of(*e, shared.prompt) + blocks_of(*e, shared.chat);
  BOOST_TEST(blocks_in_use(*e) == held);
  constexpr size_t kThreads = 8;
  std::vector<std::vector<std::string>> got(kThreads, std::vector<std::string>(work.size()));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (size_t k = 0; k < work.size(); ++k) got[t][k] = work[(k + t) % work.size()](*e, shared);
    });
  }
  for (auto& th : threads) th.join();
  for (size_t t = 0; t < kThreads; ++t) {
    for (size_t k = 0; k < work.size(); ++k) {
      BOOST_TEST(got[t][k] == expected[(k + t) % work.size()], "thread " << t << ", call " << k);
    }
  }
  BOOST_TEST(e->serving_stats().max_batch > 1);  // the calls did run together
  BOOST_TEST(e->serving_stats().block_hits > 0);  // and reused prefixes and modules
  // Requests, prefixes and modules left nothing in use: only the states' blocks.
  BOOST_TEST(e->states().size() == 2u);
  BOOST_TEST(blocks_in_use(*e) == held);
  BOOST_TEST(e->release(shared.prompt).ok());
  BOOST_TEST(e->release(shared.chat).ok());
  BOOST_TEST(blocks_in_use(*e) == 0);
}

BOOST_AUTO_TEST_CASE(a_fork_shares_every_block) {
  auto e = open_engine();
  StateId start = ok(e->cache_chat({{"system", "You sell bread."}})).state;
  ChatResult turn = ok(e->chat_completion(start, "What do you have?", greedy()));
  const int64_t before = blocks_in_use(*e);
  StateId fork = ok(e->fork(turn.state));
  BOOST_TEST(blocks_in_use(*e) == before);
  const StateInfo f = ok(e->state_info(fork)), t = ok(e->state_info(turn.state));
  BOOST_TEST(f.parent == turn.state);
  BOOST_TEST(f.own_bytes == 0);
  BOOST_TEST(f.total_bytes == t.total_bytes);
  // Both go on alike; the shared partial last block is copied, never written.
  ChatResult a = ok(e->chat_completion(fork, "And cakes?", greedy()));
  ChatResult b = ok(e->chat_completion(turn.state, "And cakes?", greedy()));
  BOOST_TEST(a.generation.tokens == b.generation.tokens);
  for (StateId s : {start, turn.state, fork, a.state, b.state}) BOOST_TEST(e->release(s).ok());
  BOOST_TEST(blocks_in_use(*e) == 0);
}

BOOST_AUTO_TEST_CASE(two_pml_prompts_share_their_module_blocks) {
  auto e = open_engine();
  StateId first = ok(e->cache_pml(kPrompt)).state;
  const int64_t one = blocks_of(*e, first);
  BOOST_TEST(blocks_in_use(*e) == one);
  const int64_t hits = e->serving_stats().block_hits;
  StateId second = ok(e->cache_pml(kPrompt)).state;
  BOOST_TEST(blocks_of(*e, second) == one);
  // The second prompt took the modules' blocks by name; only its own text's
  // blocks are new, and a copy of the last module's partial block, which
  // that text continues (copy on write).
  const int64_t shared = 2 * one - blocks_in_use(*e);
  const int64_t found = e->serving_stats().block_hits - hits;
  BOOST_TEST(shared >= 3);  // the system prompt's and both modules' blocks at least
  BOOST_TEST((found == shared || found == shared + 1), found << " found, " << shared << " shared");
  // A run of the prompt takes them too, and gives them back.
  RunOptions o;
  o.sampling = greedy();
  Generation g = ok(e->run(kPrompt, o));
  BOOST_TEST(g.timings.modules_reused == 3);
  BOOST_TEST(g.timings.modules_encoded == 0);
  BOOST_TEST(blocks_in_use(*e) == 2 * one - shared);
  BOOST_TEST(e->release(first).ok());
  BOOST_TEST(e->release(second).ok());
  BOOST_TEST(blocks_in_use(*e) == 0);
}

// The prefix cache promises the exact K/V of a plain prompt: blocks of a
// state loaded from a file (int8 here, or anyone's K/V) never enter it, even
// when a chat turn extends that state.
BOOST_AUTO_TEST_CASE(only_states_computed_from_plain_text_feed_the_prefix_cache) {
  testing::TempDir dir;
  std::string text;  // several blocks
  for (int i = 0; i < 6; ++i) text += "The bakery opens at " + std::to_string(i + 5) + " every day. ";
  const std::string path = dir.path + "/state.pcs";
  {
    auto a = open_engine();
    BOOST_REQUIRE(a->save(ok(a->cache_prompt(text)).state, path, /*int8=*/true).ok());
  }
  auto e = open_engine();
  StateId loaded = ok(e->load(path));
  ok(e->chat_completion(loaded, "When?", greedy()));
  BOOST_TEST(ok(e->generate(text + "Come early.", greedy())).timings.cached_tokens == 0);
  // Computed here, the same text is reused.
  StateId computed = ok(e->cache_prompt(text)).state;
  ok(e->chat_completion(computed, "When?", greedy()));
  BOOST_TEST(ok(e->generate(text + "Come early.", greedy())).timings.cached_tokens >= 32);
}

// Tenants (SamplingOptions::cache_salt) never reuse each other's prefixes,
// whether a generation or a conversation's state left them; each reuses its own.
BOOST_AUTO_TEST_CASE(a_cache_salt_keeps_prefixes_to_their_tenant) {
  std::string text;  // several blocks
  for (int i = 0; i < 6; ++i) text += "The bakery opens at " + std::to_string(i + 5) + " every day. ";
  auto e = open_engine();
  SamplingOptions a = greedy(), b = greedy();
  a.cache_salt = 1;
  b.cache_salt = 2;
  ok(e->generate(text, a));
  BOOST_TEST(ok(e->generate(text + "Come early.", b)).timings.cached_tokens == 0);
  BOOST_TEST(ok(e->generate(text + "Come early.", greedy())).timings.cached_tokens == 0);
  BOOST_TEST(ok(e->generate(text + "Come early.", a)).timings.cached_tokens >= 32);
  // A state's turns join the prefix cache of its tenant only.
  StateId chat = ok(e->cache_chat({{"system", text}}, /*cache_salt=*/3)).state;
  ok(e->chat_completion(chat, "When?", greedy()));
  BOOST_TEST(ok(e->cache_chat({{"system", text}}, 4)).steps.front().tokens == 0);
  BOOST_TEST(ok(e->cache_chat({{"system", text}}, 3)).steps.front().tokens >= 32);
}

BOOST_AUTO_TEST_CASE(a_removed_schema_is_unknown) {
  auto e = open_engine();
  BOOST_TEST(e->remove_schema("shop").ok());
  BOOST_TEST(e->remove_schema("shop").code() == StatusCode::kNotFound);
  RunOptions o;
  o.sampling = greedy();
  BOOST_TEST(e->run(kPrompt, o).status().message().find("unknown schema 'shop'") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
