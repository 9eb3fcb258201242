// PrefixCache: whole blocks reused along a hash chain, only while the pool
// keeps them, never across salts, and never renaming a block.
#include "runtime/prefix_cache.h"

#include <boost/test/unit_test.hpp>

#include "model/checkpoint.h"
#include "testing.h"

namespace pcache {
namespace {

constexpr int64_t kB = BlockPool::kBlockSize;

struct Fixture {
  std::unique_ptr<Checkpoint> checkpoint = std::move(Checkpoint::open(testing::fixture("tiny-mistral"))).value();
  std::unique_ptr<BlockPool> pool;
  PrefixCache prefixes;
  explicit Fixture(int64_t blocks = 16)
      : pool(std::move(BlockPool::create(checkpoint->config(), at::kFloat, at::kCPU, blocks)).value()),
        prefixes(*pool, 42) {}

  // A finished sequence of `tokens` at positions 0, 1, ..., remembered and dropped.
  void run(const std::vector<int>& tokens, uint64_t salt = 0) {
    PagedSequence s(*pool);
    std::vector<int64_t> positions(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) positions[i] = static_cast<int64_t>(i);
    BOOST_REQUIRE(s.append(tokens, positions).ok());
    prefixes.remember(s, salt);
  }
  int64_t reuse(const std::vector<int>& tokens, int64_t max_entries, uint64_t salt = 0) {
    PagedSequence s(*pool);
    const int64_t n = prefixes.reuse(tokens, max_entries, s, salt);
    BOOST_TEST(s.length() == n);
    return n;
  }
};

std::vector<int> ids(int64_t n, int seed = 0) {
  std::vector<int> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<int>(3 + (i * 31 + seed * 7) % 1000);
  return v;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(prefix_cache_test)

BOOST_AUTO_TEST_CASE(whole_blocks_at_most_max_entries) {
  Fixture f;
  f.run(ids(50));  // 3 full blocks and a partial one
  std::vector<int> longer = ids(50);
  longer.push_back(7);
  BOOST_TEST(f.reuse(longer, 50) == 3 * kB);
  BOOST_TEST(f.reuse(longer, 47) == 2 * kB);  // the third block would pass max_entries
  BOOST_TEST(f.reuse(ids(10), 9) == 0);       // not one whole block
}

BOOST_AUTO_TEST_CASE(a_changed_token_or_salt_stops_the_chain) {
  Fixture f;
  f.run(ids(64), /*salt=*/1);
  std::vector<int> changed = ids(64);
  changed[2 * kB + 5] += 1;  // in block 2
  BOOST_TEST(f.reuse(changed, 63, 1) == 2 * kB);
  BOOST_TEST(f.reuse(ids(64), 63, 1) == 3 * kB);
  BOOST_TEST(f.reuse(ids(64), 63, 2) == 0);  // another tenant
}

BOOST_AUTO_TEST_CASE(only_positions_from_zero_are_remembered) {
  Fixture f;
  PagedSequence s(*f.pool);
  std::vector<int64_t> positions(32);
  for (int64_t i = 0; i < 32; ++i) positions[i] = 100 + i;
  BOOST_REQUIRE(s.append(ids(32), positions).ok());
  f.prefixes.remember(s);
  s.clear();
  BOOST_TEST(f.reuse(ids(33), 32) == 0);
}

BOOST_AUTO_TEST_CASE(cached_blocks_last_until_the_pool_needs_them) {
  Fixture f(4);
  f.run(ids(32));  // 2 blocks, released but findable
  BOOST_TEST(f.pool->stats().cached == 2);
  BOOST_TEST(f.reuse(ids(40), 39) == 2 * kB);
  // Another sequence takes every block: the cached ones are evicted.
  {
    PagedSequence big(*f.pool);
    std::vector<int64_t> positions(64);
    for (int64_t i = 0; i < 64; ++i) positions[i] = i;
    BOOST_REQUIRE(big.append(ids(64, 9), positions).ok());
  }
  BOOST_TEST(f.reuse(ids(40), 39) == 0);
  BOOST_TEST(f.pool->stats().evictions == 2);
}

BOOST_AUTO_TEST_CASE(a_named_block_keeps_its_name) {
  Fixture f;
  auto blocks = f.pool->allocate(1);
  BOOST_REQUIRE(blocks.ok());
  f.pool->set_hash((*blocks)[0], 1234);  // as a module's block is named
  PagedSequence s(*f.pool);
  s.append_shared((*blocks)[0], ids(kB), [] {
    std::vector<int64_t> p(kB);
    for (int64_t i = 0; i < kB; ++i) p[i] = i;
    return p;
  }());
  f.pool->release(*blocks);
  f.prefixes.remember(s);
  s.clear();
  auto found = f.pool->find(1234);
  BOOST_TEST(found.has_value());
  if (found) f.pool->release(*found);
  BOOST_TEST(f.reuse(ids(kB + 1), kB) == 0);  // the block is the module's, not a prefix
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
