// Module blocks: written once, then appended with no copy and no new block,
// however many sequences use them.
#include "runtime/module_blocks.h"

#include <boost/test/unit_test.hpp>

#include "model/checkpoint.h"
#include "testing.h"

namespace pcache {
namespace {

struct Fixture {
  std::unique_ptr<Checkpoint> checkpoint = std::move(Checkpoint::open(testing::fixture("tiny-mistral"))).value();
  const ModelConfig& c = checkpoint->config();
  std::unique_ptr<BlockPool> pool = std::move(BlockPool::create(c, at::kFloat, at::kCPU, 16)).value();

  // A module of n entries at positions 40, 41, ... with random K/V.
  ModuleKV module(int64_t n) const {
    ModuleKV kv;
    for (int64_t i = 0; i < n; ++i) {
      kv.tokens.push_back(static_cast<int>(5 + i));
      kv.positions.push_back(40 + i);
    }
    for (int64_t l = 0; l < c.num_layers; ++l) {
      kv.k.push_back(at::randn({c.num_kv_heads, n, c.head_dim}));
      kv.v.push_back(at::randn({c.num_kv_heads, n, c.head_dim}));
    }
    return kv;
  }
  // The sequence's K of layer l as [Hkv, S, D].
  at::Tensor keys(const PagedSequence& s, int64_t l) const {
    return pool->keys(l).index_select(0, at::tensor(s.slots(), at::kLong)).transpose(0, 1);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(module_blocks_test)

BOOST_AUTO_TEST_CASE(written_once_then_shared_without_copies) {
  Fixture f;
  const ModuleKV kv = f.module(37);  // 2 full blocks and 5 rows
  const uint64_t name = 77;
  PagedSequence first(*f.pool), second(*f.pool);
  BOOST_TEST(!append_pooled_module(*f.pool, name, kv.tokens, kv.positions, first));
  BOOST_TEST(first.length() == 0);
  BOOST_REQUIRE(append_module(*f.pool, name, kv, /*keep=*/true, first).ok());
  BOOST_TEST(first.blocks().size() == 3u);
  BOOST_TEST(first.rows().back() == 5);
  const int64_t in_use = f.pool->stats().in_use;
  BOOST_TEST(append_pooled_module(*f.pool, name, kv.tokens, kv.positions, second));
  BOOST_TEST(f.pool->stats().in_use == in_use);  // no block allocated
  BOOST_TEST(second.blocks() == first.blocks());
  BOOST_TEST(second.positions() == kv.positions);
  for (int64_t l = 0; l < f.c.num_layers; ++l) BOOST_TEST(at::equal(f.keys(second, l), kv.k[l]));
  // Released by both, the blocks stay findable until the pool needs them.
  first.clear();
  second.clear();
  BOOST_TEST(f.pool->stats().in_use == 0);
  PagedSequence third(*f.pool);
  BOOST_TEST(append_pooled_module(*f.pool, name, kv.tokens, kv.positions, third));
}

BOOST_AUTO_TEST_CASE(a_missing_block_appends_and_leaks_nothing) {
  Fixture f;
  const ModuleKV kv = f.module(40);  // blocks 0 and 1 full, block 2 partial
  {
    PagedSequence s(*f.pool);
    BOOST_REQUIRE(append_module(*f.pool, 5, kv, true, s).ok());
    s.truncate(2 * 16);  // block 2 is released first: the least recently used
  }
  BOOST_TEST(f.pool->stats().cached == 3);
  // Evict block 2 alone: take every free block and one more.
  {
    auto taken = f.pool->allocate(f.pool->num_blocks() - 2);
    BOOST_REQUIRE(taken.ok());
    f.pool->release(*taken);
  }
  BOOST_TEST(f.pool->stats().cached == 2);
  // Blocks 0 and 1 are found, then given back when block 2 is not.
  PagedSequence s(*f.pool);
  const int64_t hits = f.pool->stats().hits;
  BOOST_TEST(!append_pooled_module(*f.pool, 5, kv.tokens, kv.positions, s));
  BOOST_TEST(f.pool->stats().hits == hits + 2);
  BOOST_TEST(s.length() == 0);
  BOOST_TEST(f.pool->stats().in_use == 0);
  BOOST_TEST(f.pool->stats().cached == 2);
}

BOOST_AUTO_TEST_CASE(unkept_blocks_are_not_findable) {
  Fixture f;
  const ModuleKV kv = f.module(20);
  {
    PagedSequence s(*f.pool);
    BOOST_REQUIRE(append_module(*f.pool, 9, kv, /*keep=*/false, s).ok());
  }
  PagedSequence s(*f.pool);
  BOOST_TEST(!append_pooled_module(*f.pool, 9, kv.tokens, kv.positions, s));
  BOOST_TEST(f.pool->stats().cached == 0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
