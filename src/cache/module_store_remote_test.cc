// The module store over a remote tier on a real Redis: read-through,
// write-behind, the local copies a remote hit leaves, int8 values.
#include <sys/stat.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdlib>

#include "cache/module_store.h"
#include "cache/remote_keys.h"
#include "cache/remote_tier.h"
#include "redis_server.h"
#include "testing.h"

namespace pcache {
namespace {

std::shared_ptr<RemoteTier> tier_on(const testing::RedisServer& server) {
  RemoteTierOptions o;
  o.endpoint = server.endpoint();
  o.timeout_ms = 60000;  // the measurement moves hundreds of MB at once
  auto t = RemoteTier::create(o);
  BOOST_REQUIRE(t.ok());
  return std::shared_ptr<RemoteTier>(std::move(*t));
}

ModuleStoreOptions store_options(std::shared_ptr<ByteTier> remote, bool int8 = false) {
  ModuleStoreOptions o;
  o.remote = std::move(remote);
  o.int8_tiers = int8;
  return o;
}

// L layers of [H, T, D] random K and V.
ModuleKV random_kv(int64_t layers, int64_t heads, int64_t t, int64_t head_dim,
                   at::ScalarType dtype) {
  ModuleKV kv;
  for (int64_t i = 0; i < t; ++i) {
    kv.tokens.push_back(static_cast<int>(i % 1000));
    kv.positions.push_back(i);
  }
  for (int64_t l = 0; l < layers; ++l) {
    kv.k.push_back(at::randn({heads, t, head_dim}).to(dtype));
    kv.v.push_back(at::randn({heads, t, head_dim}).to(dtype));
  }
  return kv;
}

double max_difference(const ModuleKV& a, const ModuleKV& b) {
  double worst = 0;
  for (size_t l = 0; l < a.k.size(); ++l) {
    worst = std::max(worst, (a.k[l].cpu().to(at::kFloat) - b.k[l].cpu().to(at::kFloat)).abs().max().item<double>());
    worst = std::max(worst, (a.v[l].cpu().to(at::kFloat) - b.v[l].cpu().to(at::kFloat)).abs().max().item<double>());
  }
  return worst;
}

const ModuleKey kKey{"0123abcd", "s", "menu", 42};

BOOST_AUTO_TEST_SUITE(module_store_remote_test)

BOOST_AUTO_TEST_CASE(a_put_reaches_another_store_through_redis) {
  testing::RedisServer server;
  auto tier = tier_on(server);
  testing::TempDir dir;
  ModuleStore a(store_options(tier));
  ModuleStoreOptions with_disk = store_options(tier);
  with_disk.disk_dir = dir.path;
  ModuleStore b(with_disk);
  const ModuleKV kv = random_kv(2, 2, 5, 8, at::kFloat);
  BOOST_REQUIRE(a.put(kKey, kv).ok());
  a.flush_remote_writes();
  BOOST_TEST(a.stats().remote_writes == 1);
  BOOST_TEST(server.cli("EXISTS pcache:" + remote_module_key("", kKey.model, kKey.content, kKey.to_string())) == "1\n");

  auto got = b.get(kKey);
  BOOST_REQUIRE(got.ok());
  BOOST_REQUIRE(*got);
  BOOST_TEST(max_difference(**got, kv) == 0.0);
  BOOST_TEST(b.stats().remote_hits == 1);
  BOOST_TEST(b.stats().hits == 1);
  BOOST_TEST((b.tier_of(kKey) == Tier::kDevice));
  BOOST_TEST(b.stats().disk_bytes > 0);  // kept on its disk tier as well
  b.flush_remote_writes();
  BOOST_TEST(b.stats().remote_writes == 0);  // not written back

  // Another tenant's key misses.
  ModuleKey other = kKey;
  other.tenant = "shop-2";
  BOOST_TEST(!*b.get(other));
  BOOST_TEST(b.stats().misses == 1);
}

BOOST_AUTO_TEST_CASE(int8_values_come_back_within_half_a_step) {
  testing::RedisServer server;
  auto tier = tier_on(server);
  ModuleStore a(store_options(tier, /*int8=*/true)), b(store_options(tier));
  const ModuleKV kv = random_kv(2, 2, 16, 8, at::kBFloat16);
  BOOST_REQUIRE(a.put(kKey, kv).ok());
  a.flush_remote_writes();
  auto got = b.get(kKey);
  BOOST_REQUIRE(got.ok() && *got);
  BOOST_TEST(((*got)->k[0].scalar_type() == at::kBFloat16));
  // randn: |x| < 6, a step of 6 / 127; half of it, plus bfloat16's rounding.
  BOOST_TEST(max_difference(**got, kv) < 0.05);
  BOOST_TEST(max_difference(**got, kv) > 0.0);
}

BOOST_AUTO_TEST_CASE(an_unreachable_redis_is_a_miss) {
  std::shared_ptr<RemoteTier> tier;
  {
    testing::RedisServer server;
    tier = tier_on(server);
  }
  ModuleStore s(store_options(tier));
  BOOST_TEST(!*s.get(kKey));
  BOOST_REQUIRE(s.put(kKey, random_kv(1, 1, 2, 4, at::kFloat)).ok());
  BOOST_TEST(*s.get(kKey) != nullptr);  // local tiers unaffected
  s.flush_remote_writes();
  BOOST_TEST(s.stats().remote_errors == 1);
  BOOST_TEST(s.stats().remote_write_failures == 1);
}

// Figures for docs/benchmarks.md; asserts nothing about time. Skipped unless
// PCACHE_MEASURE is set (it moves a few GB through Redis):
//   PCACHE_MEASURE=1 ./build/src/cache/cache_tests
//       --run_test=module_store_remote_test/measure_load_per_gb --log_level=message
// PCACHE_MEASURE_TOKENS sets T (default 2048).
struct MeasureAsked {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) {
    const char* env = std::getenv("PCACHE_MEASURE");
    return env && *env;
  }
};

BOOST_AUTO_TEST_CASE(measure_load_per_gb, *boost::unit_test::precondition(MeasureAsked())) {
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  };
  const char* tokens_env = std::getenv("PCACHE_MEASURE_TOKENS");
  const int64_t t = tokens_env ? std::atoll(tokens_env) : 2048;
  testing::RedisServer server;
  auto tier = tier_on(server);
  // Mistral 7B's K/V shape: 32 layers x 8 KV heads x T x 128, bfloat16.
  const ModuleKV kv = random_kv(32, 8, t, 128, at::kBFloat16);
  const double gb = static_cast<double>(kv.bytes()) / 1e9;
  for (const bool int8 : {false, true}) {
    std::vector<double> writes, loads;
    for (int r = 0; r < 3; ++r) {
      ModuleKey key = kKey;
      key.content = static_cast<uint64_t>(r) + (int8 ? 100 : 0);
      ModuleStore writer(store_options(tier, int8));
      BOOST_REQUIRE(writer.put(key, kv).ok());
      auto start = Clock::now();
      writer.flush_remote_writes();  // encode to bytes, then put
      writes.push_back(ms_since(start));
      BOOST_REQUIRE(writer.stats().remote_writes == 1);
      ModuleStore reader(store_options(tier));
      start = Clock::now();
      auto got = reader.get(key);  // get, check, decode, pack
      loads.push_back(ms_since(start));
      BOOST_REQUIRE(got.ok() && *got);
      BOOST_REQUIRE(reader.stats().remote_hits == 1);
    }
    std::sort(writes.begin(), writes.end());
    std::sort(loads.begin(), loads.end());
    BOOST_TEST_MESSAGE((int8 ? "int8 " : "bf16 ") << "T=" << t << " K/V " << kv.bytes()
                       << " bytes: write-behind " << writes[0] << ".." << writes[2]
                       << " ms (median " << writes[1] << ", " << writes[1] / 1000 / gb
                       << " s/GB); load " << loads[0] << ".." << loads[2] << " ms (median "
                       << loads[1] << ", " << loads[1] / 1000 / gb << " s/GB); Redis used_memory "
                       << server.cli("INFO memory | grep '^used_memory:'"));
    server.cli("FLUSHALL");
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace pcache
