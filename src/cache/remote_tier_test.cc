#include "cache/remote_tier.h"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "cache/remote_format.h"
#include "redis_server.h"

namespace pcache {
namespace {

struct Fixture {
  testing::RedisServer server;
  std::vector<std::string> warnings;

  // Small chunks, so that a few hundred bytes make several; no back-off, so
  // that every call after a failure tries the server again.
  std::unique_ptr<RemoteTier> tier(int backoff_ms = 0) {
    RemoteTierOptions o;
    o.endpoint = server.endpoint();
    o.key_prefix = "t:";
    o.chunk_bytes = 100;
    o.timeout_ms = 300;
    o.backoff_initial_ms = backoff_ms;
    o.backoff_max_ms = std::max(backoff_ms, 1000);
    o.warn = [this](const std::string& m) { warnings.push_back(m); };
    auto t = RemoteTier::create(o);
    BOOST_REQUIRE(t.ok());
    return std::move(*t);
  }
};

std::string bytes(size_t n, char seed) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += static_cast<char>(seed + i * 7);
  return s;
}

int count_keys(testing::RedisServer& server) {
  return std::stoi(server.cli("DBSIZE"));
}

BOOST_AUTO_TEST_SUITE(remote_tier_test)

BOOST_FIXTURE_TEST_CASE(round_trips_values_of_any_size, Fixture) {
  auto t = tier();
  for (size_t n : {0, 1, 99, 100, 101, 1000}) {
    const std::string key = "k" + std::to_string(n);
    const std::string value = bytes(n, static_cast<char>(n));
    BOOST_REQUIRE(t->put(key, value).ok());
    auto got = t->get(key);
    BOOST_REQUIRE(got.ok());
    BOOST_TEST((*got == value));
    BOOST_TEST(*t->size(key) == static_cast<int64_t>(n));
  }
  // 1000 bytes: ten chunks and a manifest, under the prefix.
  BOOST_TEST(server.cli("EXISTS t:k1000") == "1\n");
  BOOST_TEST(t->get("none").status().code() == StatusCode::kNotFound);
  BOOST_TEST(t->size("none").status().code() == StatusCode::kNotFound);
  BOOST_TEST(t->stats().misses == 1);
  BOOST_TEST(warnings.empty());
}

BOOST_FIXTURE_TEST_CASE(replacing_and_erasing_leave_no_chunks, Fixture) {
  auto t = tier();
  BOOST_REQUIRE(t->put("k", bytes(1000, 'a')).ok());
  BOOST_TEST(count_keys(server) == 11);
  BOOST_REQUIRE(t->put("k", bytes(250, 'b')).ok());
  BOOST_TEST(count_keys(server) == 4);  // the first value's chunks went with it
  BOOST_TEST((*t->get("k") == bytes(250, 'b')));
  BOOST_REQUIRE(t->erase("k").ok());
  BOOST_TEST(count_keys(server) == 0);
  BOOST_TEST(t->erase("k").ok());
}

BOOST_FIXTURE_TEST_CASE(rejects_and_removes_damaged_values, Fixture) {
  auto t = tier();
  // A manifest overwritten with garbage.
  BOOST_REQUIRE(t->put("m", bytes(300, 'a')).ok());
  server.cli("SET t:m garbage");
  BOOST_TEST(t->get("m").status().code() == StatusCode::kCorruption);
  BOOST_TEST(server.cli("EXISTS t:m") == "0\n");
  // A chunk overwritten with bytes of the same length: the value's checksum.
  BOOST_REQUIRE(t->put("c", bytes(300, 'a')).ok());
  const std::string chunk = server.cli("--scan --pattern 't:c#*:1'");
  BOOST_REQUIRE(!chunk.empty());
  server.cli("SET " + chunk.substr(0, chunk.size() - 1) + " " + std::string(100, 'x'));
  BOOST_TEST(t->get("c").status().code() == StatusCode::kCorruption);
  // A chunk gone (evicted): incomplete.
  BOOST_REQUIRE(t->put("e", bytes(300, 'a')).ok());
  const std::string evicted = server.cli("--scan --pattern 't:e#*:2'");
  server.cli("DEL " + evicted.substr(0, evicted.size() - 1));
  BOOST_TEST(t->get("e").status().code() == StatusCode::kCorruption);
  // Something of another type under the key.
  server.cli("HSET t:h field value");
  BOOST_TEST(t->get("h").status().code() == StatusCode::kCorruption);
  BOOST_TEST(t->put("h", "fresh").ok());
  BOOST_TEST((*t->get("h") == "fresh"));

  BOOST_TEST(t->stats().corrupt == 4);
  // "h" and its chunk; of the damaged values only the 3 chunks of "m", whose
  // garbage manifest no longer names them (left to the TTL or eviction).
  BOOST_TEST(count_keys(server) == 5);
  BOOST_TEST(t->stats().outages == 0);
}

BOOST_FIXTURE_TEST_CASE(outage_is_warned_once_and_reconnected, Fixture) {
  auto t = tier();
  BOOST_REQUIRE(t->put("k", "value").ok());
  server.kill();
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST(t->get("k").status().code() == StatusCode::kIoError);
    BOOST_TEST(t->put("k2", "v").code() == StatusCode::kIoError);
  }
  BOOST_TEST(t->stats().outages == 1);
  BOOST_TEST(t->stats().errors == 6);
  BOOST_REQUIRE(warnings.size() == 1);
  BOOST_TEST(warnings[0].find("unreachable") != std::string::npos, warnings[0]);

  server.start();  // restarted, empty (no persistence)
  BOOST_TEST(t->get("k").status().code() == StatusCode::kNotFound);
  BOOST_TEST(t->put("k", "again").ok());
  BOOST_TEST((*t->get("k") == "again"));
  BOOST_REQUIRE(warnings.size() == 2);
  BOOST_TEST(warnings[1].find("answers again") != std::string::npos);

  server.kill();
  BOOST_TEST(!t->get("k").ok());
  BOOST_TEST(t->stats().outages == 2);  // a second episode, warned once more
  BOOST_TEST(warnings.size() == 3);
}

BOOST_FIXTURE_TEST_CASE(backs_off_without_touching_the_network, Fixture) {
  auto t = tier(/*backoff_ms=*/60000);
  server.kill();
  BOOST_TEST(t->get("k").status().code() == StatusCode::kIoError);
  // Within the back-off: failed at once, not tried.
  BOOST_TEST(t->get("k").status().code() == StatusCode::kIoError);
  BOOST_TEST(t->put("k", "v").code() == StatusCode::kIoError);
  BOOST_TEST(t->stats().errors == 1);
  BOOST_TEST(t->stats().skipped == 2);
}

BOOST_FIXTURE_TEST_CASE(a_late_answer_is_an_outage, Fixture) {
  auto t = tier();
  BOOST_REQUIRE(t->put("k", "value").ok());
  // Clients wait 2 s for an answer; the tier gives up after 300 ms.
  server.cli("CLIENT PAUSE 2000 ALL");
  BOOST_TEST(t->get("k").status().code() == StatusCode::kIoError);
  BOOST_TEST(t->stats().outages == 1);
  StatusOr<TierValue> got = Status::not_found("");
  for (int i = 0; i < 100 && !got.ok(); ++i) {  // until the pause is over
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    got = t->get("k");
  }
  BOOST_TEST((got.ok() && *got == "value"));
  BOOST_TEST(t->stats().outages == 1);
}

BOOST_FIXTURE_TEST_CASE(a_full_redis_refuses_puts, Fixture) {
  auto t = tier();
  server.cli("CONFIG SET maxmemory-policy noeviction");
  server.cli("CONFIG SET maxmemory 1");
  BOOST_TEST(t->put("k", bytes(1000, 'a')).code() == StatusCode::kResourceExhausted);
  BOOST_TEST(t->put("k", bytes(1000, 'a')).code() == StatusCode::kResourceExhausted);
  BOOST_TEST(t->stats().full == 1);
  BOOST_TEST(t->stats().outages == 0);  // reads still work
  BOOST_REQUIRE(warnings.size() == 1);
  BOOST_TEST(warnings[0].find("refuses writes") != std::string::npos);
  server.cli("CONFIG SET maxmemory 0");
  BOOST_TEST(t->put("k", bytes(1000, 'a')).ok());
  BOOST_TEST(count_keys(server) == 11);  // no chunk of the refused puts is left
  BOOST_TEST(warnings.size() == 2);
}

BOOST_FIXTURE_TEST_CASE(expires_values_with_a_ttl, Fixture) {
  RemoteTierOptions o;
  o.endpoint = server.endpoint();
  o.chunk_bytes = 100;
  o.ttl_seconds = 1000;
  auto t = RemoteTier::create(o);
  BOOST_REQUIRE(t.ok());
  BOOST_REQUIRE((*t)->put("k", bytes(150, 'a')).ok());
  const int ttl = std::stoi(server.cli("TTL pcache:k"));
  BOOST_TEST(ttl > 900);
  BOOST_TEST(ttl <= 1000);
  const std::string chunk = server.cli("--scan --pattern 'pcache:k#*:0'");
  BOOST_TEST(std::stoi(server.cli("TTL " + chunk.substr(0, chunk.size() - 1))) > 1000);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace pcache
