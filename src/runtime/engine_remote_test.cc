// Two engines (replicas) on one real Redis: modules and saved states move
// between them through the remote tier, and nothing Redis does (dying,
// holding garbage, another model's values) stops either from answering.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <sstream>
#include <thread>

#include "cache/remote_keys.h"
#include "cache/remote_tier.h"
#include "pcache/engine.h"
#include "redis_server.h"
#include "testing.h"

namespace pcache {
namespace {

constexpr const char* kSchema = R"(<schema name="trip" mode="independent">Travel notes.
  <module name="lake">The lake has boats and a pier where the ferry leaves at noon.</module>
  <module name="forest">The forest has long walks, tall trees and a hut that sells tea.</module>
</schema>)";
constexpr const char* kPrompt = R"(<prompt schema="trip"><lake/><forest/>Where to go?</prompt>)";

template <typename T>
T ok(StatusOr<T> s) {
  BOOST_REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  return std::move(s).value();
}

SamplingOptions greedy() {
  SamplingOptions o;
  o.max_tokens = 6;
  o.stop_at_eos = false;
  return o;
}

RunOptions run_options() {
  RunOptions o;
  o.sampling = greedy();
  return o;
}

std::unique_ptr<Engine> replica(const testing::RedisServer& server,
                                const std::string& model = "tiny-mistral") {
  EngineOptions o;
  o.remote = server.url();
  auto e = ok(Engine::open(testing::fixture(model), o));
  BOOST_REQUIRE(e->add_schema(kSchema).ok());
  return e;
}

// The manifests of the modules in Redis (chunk keys hold a '#').
std::vector<std::string> module_keys(const testing::RedisServer& server) {
  std::istringstream lines(server.cli("--scan --pattern 'pcache:mod:*'"));
  std::vector<std::string> keys;
  for (std::string k; std::getline(lines, k);) {
    if (k.find('#') == std::string::npos) keys.push_back(k);
  }
  return keys;
}

// A tier of its own on the same Redis, as another process would have.
std::unique_ptr<RemoteTier> tier_on(const testing::RedisServer& server) {
  RemoteTierOptions o;
  o.endpoint = server.endpoint();
  o.key_prefix = "";
  return ok(RemoteTier::create(o));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(engine_remote_test)

BOOST_AUTO_TEST_CASE(replicas_share_modules_and_states_and_survive_redis) {
  testing::RedisServer server;
  auto a = replica(server), b = replica(server);

  // A encodes; its writes go to Redis behind the request.
  Generation first = ok(a->run(kPrompt, run_options()));
  BOOST_TEST(first.timings.modules_encoded == 3);  // the root text and both modules
  a->flush_remote_writes();
  BOOST_TEST(a->cache_stats().remote_writes == 3);
  BOOST_TEST(module_keys(server).size() == 3u);

  // B encodes nothing and answers the same.
  Generation second = ok(b->run(kPrompt, run_options()));
  BOOST_TEST(second.timings.modules_encoded == 0);
  BOOST_TEST(second.timings.modules_reused == 3);
  BOOST_TEST(second.tokens == first.tokens);
  BOOST_TEST(b->cache_stats().remote_hits == 3);
  b->flush_remote_writes();
  BOOST_TEST(b->cache_stats().remote_writes == 0);  // read, not written back

  // A conversation started on A goes on on B.
  StateId on_a = ok(a->cache_chat({{"system", "You answer briefly."}})).state;
  ChatResult turn = ok(a->chat_completion(on_a, "Hello there", greedy()));
  BOOST_REQUIRE(a->save_remote(turn.state, "conversation-1").ok());
  StateId on_b = ok(b->load_remote("conversation-1"));
  BOOST_TEST(ok(b->chat_completion(on_b, "And then?", greedy())).generation.tokens ==
             ok(a->chat_completion(turn.state, "And then?", greedy())).generation.tokens);
  BOOST_TEST(b->load_remote("conversation-2").status().code() == StatusCode::kNotFound);

  // Redis dies: both still answer, from what they hold and by encoding.
  server.kill();
  BOOST_TEST(ok(a->run(kPrompt, run_options())).tokens == first.tokens);
  BOOST_REQUIRE(b->add_schema(R"(<schema name="other" mode="independent">Other.
    <module name="m">Something else entirely.</module></schema>)").ok());
  Generation encoded = ok(b->run(R"(<prompt schema="other"><m/>Why?</prompt>)", run_options()));
  BOOST_TEST(encoded.timings.modules_encoded == 2);
  BOOST_TEST(ok(b->chat_completion(on_b, "Bye", greedy())).generation.tokens.size() == 6u);
  BOOST_TEST(b->save_remote(on_b, "conversation-3").code() == StatusCode::kIoError);
  BOOST_TEST(b->load_remote("conversation-1").status().code() == StatusCode::kIoError);
  b->flush_remote_writes();
  BOOST_TEST(b->cache_stats().remote_outages == 1);
  BOOST_TEST(b->cache_stats().remote_write_failures >= 1);

  // Restarted (empty): the tier reconnects once its back-off has passed.
  server.start();
  Status saved = Status::io_error("not tried");
  for (int i = 0; i < 200 && !saved.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    saved = b->save_remote(on_b, "conversation-3");
  }
  BOOST_TEST(saved.ok(), saved.to_string());
  BOOST_TEST(ok(a->load_remote("conversation-3")) > 0u);
}

BOOST_AUTO_TEST_CASE(garbage_is_rejected_and_encoded_again) {
  testing::RedisServer server;
  auto a = replica(server);
  const Generation first = ok(a->run(kPrompt, run_options()));
  a->flush_remote_writes();
  const std::vector<std::string> keys = module_keys(server);
  BOOST_REQUIRE(keys.size() == 3u);
  for (const std::string& key : keys) BOOST_TEST(server.cli("SET " + key + " garbage") == "OK\n");

  auto b = replica(server);
  Generation second = ok(b->run(kPrompt, run_options()));
  BOOST_TEST(second.timings.modules_encoded == 3);
  BOOST_TEST(second.tokens == first.tokens);
  BOOST_TEST(b->cache_stats().remote_corrupt == 3);
  b->flush_remote_writes();  // the fresh encodings replace the garbage
  BOOST_TEST(b->cache_stats().remote_writes == 3);

  auto c = replica(server);
  BOOST_TEST(ok(c->run(kPrompt, run_options())).timings.modules_encoded == 0);

  // A state overwritten likewise is refused, and removed.
  StateId s = ok(a->cache_prompt("Remember this.")).state;
  BOOST_REQUIRE(a->save_remote(s, "n").ok());
  std::string stored = server.cli("--scan --pattern 'pcache:state:*:n'");
  stored.pop_back();
  server.cli("SET " + stored + " garbage");
  BOOST_TEST(c->load_remote("n").status().code() == StatusCode::kCorruption);
  BOOST_TEST(c->load_remote("n").status().code() == StatusCode::kNotFound);
}

BOOST_AUTO_TEST_CASE(truncated_and_other_model_values_are_rejected) {
  testing::RedisServer server;
  auto tier = tier_on(server);
  auto mistral = replica(server);
  const Generation first = ok(mistral->run(kPrompt, run_options()));
  mistral->flush_remote_writes();
  std::vector<std::string> keys = module_keys(server);
  BOOST_REQUIRE(keys.size() == 3u);

  // Whole in Redis's eyes (a sound manifest) but cut: the module format's checks.
  for (const std::string& key : keys) {
    const TierValue value = ok(tier->get(key));
    BOOST_REQUIRE(tier->put(key, value.view().substr(0, value.size() / 2)).ok());
  }
  auto b = replica(server);
  Generation cut = ok(b->run(kPrompt, run_options()));
  BOOST_TEST(cut.timings.modules_encoded == 3);
  BOOST_TEST(cut.tokens == first.tokens);
  BOOST_TEST(b->cache_stats().remote_corrupt == 3);
  b->flush_remote_writes();

  // Another model's modules under this model's keys: their key string names
  // the other fingerprint, so they are refused too.
  auto llama = replica(server, "tiny-llama");
  ok(llama->run(kPrompt, run_options()));
  llama->flush_remote_writes();
  std::vector<std::string> all = module_keys(server);
  BOOST_REQUIRE(all.size() == 6u);
  std::vector<std::string> llama_keys;
  for (const std::string& k : all) {
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) llama_keys.push_back(k);
  }
  BOOST_REQUIRE(llama_keys.size() == 3u);
  for (size_t i = 0; i < keys.size(); ++i) {
    BOOST_REQUIRE(tier->put(keys[i], ok(tier->get(llama_keys[i])).view()).ok());
  }
  auto c = replica(server);
  Generation foreign = ok(c->run(kPrompt, run_options()));
  BOOST_TEST(foreign.timings.modules_encoded == 3);
  BOOST_TEST(foreign.tokens == first.tokens);
  BOOST_TEST(c->cache_stats().remote_corrupt == 3);

  // States never cross models: the key names the model.
  StateId s = ok(mistral->cache_prompt("Remember this.")).state;
  BOOST_REQUIRE(mistral->save_remote(s, "shared-name").ok());
  BOOST_TEST(llama->load_remote("shared-name").status().code() == StatusCode::kNotFound);
  // Nor tenants.
  BOOST_REQUIRE(mistral->save_remote(s, "t", false, /*cache_salt=*/1).ok());
  BOOST_TEST(mistral->load_remote("t", 2).status().code() == StatusCode::kNotFound);
  BOOST_TEST(mistral->load_remote("t").status().code() == StatusCode::kNotFound);
  BOOST_TEST(ok(mistral->load_remote("t", 1)) > 0u);
}

// Tenants (cache salts) never share a module, locally or in Redis: a schema
// registered for one is that tenant's on every replica, under keys that name
// the tenant; the same schema of another tenant is encoded and stored apart.
BOOST_AUTO_TEST_CASE(tenants_never_share_modules_across_replicas) {
  testing::RedisServer server;
  EngineOptions o;
  o.remote = server.url();
  auto a = ok(Engine::open(testing::fixture("tiny-mistral"), o));
  auto b = ok(Engine::open(testing::fixture("tiny-mistral"), o));
  BOOST_REQUIRE(a->add_schema(kSchema, "trip", /*cache_salt=*/1).ok());
  BOOST_REQUIRE(b->add_schema(kSchema, "trip", 1).ok());
  BOOST_REQUIRE(b->add_schema(kSchema, "trip", 2).ok());
  RunOptions one = run_options(), two = run_options();
  one.sampling.cache_salt = 1;
  two.sampling.cache_salt = 2;
  BOOST_TEST(a->run(kPrompt, two).status().code() == StatusCode::kNotFound);  // not tenant 2's
  BOOST_TEST(a->run(kPrompt, run_options()).status().code() == StatusCode::kNotFound);

  Generation first = ok(a->run(kPrompt, one));
  BOOST_TEST(first.timings.modules_encoded == 3);
  a->flush_remote_writes();
  std::vector<std::string> keys = module_keys(server);
  BOOST_TEST(keys.size() == 3u);
  for (const auto& k : keys) BOOST_TEST(k.rfind("pcache:mod:0000000000000001:", 0) == 0u, k);

  BOOST_TEST(ok(b->run(kPrompt, one)).timings.modules_encoded == 0);  // tenant 1's, from Redis
  Generation other = ok(b->run(kPrompt, two));                        // tenant 2: its own
  BOOST_TEST(other.timings.modules_encoded == 3);
  BOOST_TEST(other.tokens == first.tokens, boost::test_tools::per_element());
  b->flush_remote_writes();
  BOOST_TEST(module_keys(server).size() == 6u);
}

BOOST_AUTO_TEST_CASE(without_redis_from_the_start_requests_are_answered) {
  std::string url;
  {
    testing::RedisServer server;
    url = server.url();
  }  // nothing listens there now
  EngineOptions o;
  o.remote = url;
  auto e = ok(Engine::open(testing::fixture("tiny-mistral"), o));
  BOOST_REQUIRE(e->add_schema(kSchema).ok());
  BOOST_TEST(ok(e->run(kPrompt, run_options())).timings.modules_encoded == 3);
  e->flush_remote_writes();
  BOOST_TEST(e->cache_stats().remote_outages == 1);

  o.remote = "redis://host:notaport";
  BOOST_TEST(Engine::open(testing::fixture("tiny-mistral"), o).status().code() ==
             StatusCode::kInvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
