#include "model/block_pool.h"

#include <boost/test/unit_test.hpp>

#include "model/paged_sequence.h"

namespace pcache {
namespace {

constexpr int64_t kB = BlockPool::kBlockSize;

ModelConfig small_config() {
  ModelConfig c;
  c.num_layers = 2;
  c.num_kv_heads = 1;
  c.head_dim = 4;
  return c;
}

std::unique_ptr<BlockPool> make_pool(int64_t blocks) {
  auto pool = BlockPool::create(small_config(), at::kFloat, at::kCPU, blocks);
  BOOST_REQUIRE_MESSAGE(pool.ok(), pool.status().to_string());
  return std::move(pool).value();
}

std::vector<int> ids(int64_t n, int first = 0) {
  std::vector<int> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = first + static_cast<int>(i);
  return v;
}

std::vector<int64_t> positions(int64_t n, int64_t first = 0) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = first + i;
  return v;
}

// Marks an entry in every layer's keys and values (value + layer in the values,
// so that a copy that mixed layers up shows).
void mark(BlockPool& pool, int64_t slot, float value) {
  for (int64_t l = 0; l < small_config().num_layers; ++l) {
    pool.keys(l)[slot].fill_(value);
    pool.values(l)[slot].fill_(value + static_cast<float>(l));
  }
}
float mark_at(BlockPool& pool, int64_t slot) { return pool.keys(0)[slot][0][0].item<float>(); }
// Whether every layer's keys and values hold the mark at `slot`.
bool marked_everywhere(BlockPool& pool, int64_t slot, float value) {
  for (int64_t l = 0; l < small_config().num_layers; ++l) {
    if (!pool.keys(l)[slot].eq(value).all().item<bool>() ||
        !pool.values(l)[slot].eq(value + static_cast<float>(l)).all().item<bool>()) {
      return false;
    }
  }
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(block_pool_test)

BOOST_AUTO_TEST_CASE(released_blocks_come_back_consecutive) {
  // forward_paged reads runs of consecutive blocks in place: a module's or a
  // sequence's blocks, freed and taken again, must keep their order.
  auto pool = make_pool(8);
  auto first = pool->allocate(6);
  BOOST_TEST_REQUIRE(first.ok());
  BOOST_TEST(*first == std::vector<int32_t>({0, 1, 2, 3, 4, 5}), boost::test_tools::per_element());
  pool->release(std::vector<int32_t>{(*first)[2], (*first)[3], (*first)[4]});
  auto again = pool->allocate(3);
  BOOST_TEST_REQUIRE(again.ok());
  BOOST_TEST(*again == std::vector<int32_t>({2, 3, 4}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(allocate_release_and_exhaustion) {
  auto pool = make_pool(4);
  BOOST_TEST(pool->stats().bytes == 4 * BlockPool::block_bytes(small_config(), at::kFloat));
  auto three = pool->allocate(3);
  BOOST_TEST_REQUIRE(three.ok());
  BOOST_TEST(pool->available() == 1);
  auto too_many = pool->allocate(2);
  BOOST_TEST(too_many.status().code() == StatusCode::kResourceExhausted);
  BOOST_TEST(too_many.status().message().find("2 blocks asked for, 1 of 4 available") != std::string::npos,
             too_many.status().message());
  BOOST_TEST(pool->available() == 1);  // nothing taken by the failed call
  pool->retain((*three)[0]);
  BOOST_TEST(pool->ref_count((*three)[0]) == 2);
  pool->release(*three);
  BOOST_TEST(pool->ref_count((*three)[0]) == 1);
  BOOST_TEST(pool->available() == 3);
  BOOST_TEST(pool->stats().in_use == 1);
  BOOST_TEST(BlockPool::create(small_config(), at::kFloat, at::kCPU, 0).status().code() ==
             StatusCode::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(released_hashed_blocks_stay_findable_until_needed_lru) {
  auto pool = make_pool(3);
  auto got = pool->allocate(3);
  BOOST_TEST_REQUIRE(got.ok());
  const int32_t a = (*got)[0], b = (*got)[1], c = (*got)[2];
  pool->set_hash(a, 100);
  pool->set_hash(b, 200);
  mark(*pool, a * kB, 1.f);
  pool->release(a);  // cached first: the least recently released
  pool->release(b);
  BOOST_TEST(pool->stats().cached == 2);
  auto found = pool->find(100);
  BOOST_TEST_REQUIRE(found.has_value());
  BOOST_TEST(*found == a);
  BOOST_TEST(mark_at(*pool, a * kB) == 1.f);  // contents kept
  BOOST_TEST(pool->ref_count(a) == 1);
  BOOST_TEST(!pool->find(300).has_value());
  pool->release(a);  // now b is the older cached one
  pool->release(c);  // no hash: free, taken first
  auto one = pool->allocate(1);
  BOOST_TEST((*one)[0] == c);
  auto two = pool->allocate(1);
  BOOST_TEST((*two)[0] == b);  // b evicted before a
  BOOST_TEST(!pool->find(200).has_value());
  BOOST_TEST(pool->find(100).has_value());
  BOOST_TEST(pool->stats().evictions == 1);
  BOOST_TEST(pool->stats().hits == 2);
}

BOOST_AUTO_TEST_CASE(a_sequence_fills_blocks_and_releases_them) {
  auto pool = make_pool(8);
  {
    PagedSequence s(*pool);
    BOOST_TEST_REQUIRE(s.append(ids(20), positions(20)).ok());
    BOOST_TEST(s.blocks().size() == 2u);
    BOOST_TEST(s.rows() == (std::vector<int32_t>{16, 4}));
    BOOST_TEST_REQUIRE(s.append(ids(3, 20), positions(3, 20)).ok());  // into the open block
    BOOST_TEST(s.blocks().size() == 2u);
    BOOST_TEST(s.rows().back() == 7);
    const auto slots = s.slots();
    BOOST_TEST(slots.size() == 23u);
    BOOST_TEST(slots[16] == int64_t{s.blocks()[1]} * kB);
    BOOST_TEST(s.slots_from(21) == (std::vector<int64_t>{slots[21], slots[22]}));
    s.set_token(22, 7);  // an id known after its entry was computed
    BOOST_TEST(s.tokens()[22] == 7);
    BOOST_TEST(s.slots() == slots);
    s.truncate(10);
    BOOST_TEST(s.blocks().size() == 1u);
    BOOST_TEST(s.length() == 10);
    BOOST_TEST(pool->available() == 7);
    // Not enough blocks: unchanged.
    BOOST_TEST(s.append(ids(200), positions(200)).code() == StatusCode::kResourceExhausted);
    BOOST_TEST(s.length() == 10);
    BOOST_TEST(pool->available() == 7);
  }
  BOOST_TEST(pool->available() == 8);
}

BOOST_AUTO_TEST_CASE(forks_copy_the_shared_partial_block_on_write) {
  auto pool = make_pool(8);
  PagedSequence parent(*pool);
  BOOST_TEST_REQUIRE(parent.append(ids(18), positions(18)).ok());
  for (int64_t i = 0; i < 18; ++i) mark(*pool, parent.slots()[i], static_cast<float>(i));
  PagedSequence child = parent.share();
  BOOST_TEST(pool->ref_count(parent.blocks()[1]) == 2);
  BOOST_TEST_REQUIRE(child.append({99}, {18}).ok());
  // The child's tail is a copy: the parent's block is untouched and no longer shared.
  BOOST_TEST(child.blocks()[0] == parent.blocks()[0]);
  BOOST_TEST(child.blocks()[1] != parent.blocks()[1]);
  BOOST_TEST(pool->ref_count(parent.blocks()[1]) == 1);
  BOOST_TEST(mark_at(*pool, child.slots()[17]) == 17.f);
  BOOST_TEST(marked_everywhere(*pool, child.slots()[16], 16.f));
  BOOST_TEST(marked_everywhere(*pool, child.slots()[17], 17.f));
  mark(*pool, child.slots()[18], -1.f);
  BOOST_TEST_REQUIRE(parent.append({7}, {18}).ok());  // the parent copies too: it shared
  BOOST_TEST(mark_at(*pool, parent.slots()[17]) == 17.f);
  BOOST_TEST(parent.slots()[18] != child.slots()[18]);
}

BOOST_AUTO_TEST_CASE(shared_blocks_are_appended_as_they_are) {
  auto pool = make_pool(8);
  PagedSequence module(*pool);  // a module of 5 entries at positions 40..44
  BOOST_TEST_REQUIRE(module.append(ids(5), positions(5, 40)).ok());
  PagedSequence prompt(*pool);
  prompt.append_shared(module.blocks()[0], module.tokens(), module.positions());
  prompt.append_shared(module.blocks()[0], module.tokens(), module.positions());  // ragged: twice
  BOOST_TEST(pool->ref_count(module.blocks()[0]) == 3);
  BOOST_TEST(prompt.length() == 10);
  BOOST_TEST_REQUIRE(prompt.append(ids(2, 50), positions(2, 60)).ok());
  // The table is ragged already: the shared tail is neither written nor
  // copied, the new entries start a block of their own.
  BOOST_TEST_REQUIRE(prompt.rows() == (std::vector<int32_t>{5, 5, 2}));
  BOOST_TEST(prompt.blocks()[1] == module.blocks()[0]);
  BOOST_TEST(prompt.blocks()[2] != module.blocks()[0]);
  BOOST_TEST(pool->ref_count(module.blocks()[0]) == 3);
  BOOST_TEST(module.rows()[0] == 5);
  BOOST_TEST_REQUIRE(prompt.append(ids(3, 52), positions(3, 62)).ok());  // its own tail: filled
  BOOST_TEST(prompt.rows() == (std::vector<int32_t>{5, 5, 5}));
  prompt.clear();
  BOOST_TEST(pool->ref_count(module.blocks()[0]) == 1);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
