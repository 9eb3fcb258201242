#include "model/kv_cache.h"

#include <boost/test/unit_test.hpp>

namespace pcache {

BOOST_AUTO_TEST_SUITE(kv_cache_test)

BOOST_AUTO_TEST_CASE(update_commit_grow_truncate) {
  KVCache c(/*layers=*/2, /*batch=*/1, /*kv_heads=*/2, /*head_dim=*/4, at::kFloat, at::kCPU);
  BOOST_TEST(c.length() == 0);
  at::Tensor k = at::randn({1, 2, 3, 4}), v = at::randn({1, 2, 3, 4});
  c.reserve(3);
  for (int l = 0; l < 2; ++l) {
    auto [ka, va] = c.update(l, k, v);
    BOOST_TEST(ka.size(2) == 3);
    BOOST_TEST(at::equal(ka, k));
  }
  BOOST_TEST(c.length() == 0);  // not yet committed
  c.commit(at::tensor({0, 5, 9}, at::kLong).unsqueeze(0));
  BOOST_TEST(c.length() == 3);
  BOOST_TEST(c.bytes() == 2 * 2 * 1 * 2 * 3 * 4 * 4);
  // Appending past capacity keeps what was there.
  const int64_t n = c.capacity();
  std::vector<at::Tensor> ks, vs;
  for (int l = 0; l < 2; ++l) {
    ks.push_back(at::randn({1, 2, n, 4}));
    vs.push_back(at::randn({1, 2, n, 4}));
  }
  c.append(ks, vs, at::arange(10, 10 + n, at::kLong).unsqueeze(0));
  BOOST_TEST(c.length() == 3 + n);
  BOOST_TEST(c.capacity() >= 3 + n);
  BOOST_TEST(at::equal(c.keys(0).narrow(2, 0, 3), k));
  BOOST_TEST(at::equal(c.values(1).narrow(2, 3, n), vs[1]));
  BOOST_TEST(c.positions()[0][1].item<int64_t>() == 5);
  BOOST_TEST(c.positions()[0][3].item<int64_t>() == 10);
  c.truncate(2);
  BOOST_TEST(c.length() == 2);
  BOOST_TEST(c.keys(0).size(2) == 2);
}

BOOST_AUTO_TEST_CASE(packed_append_equals_per_layer_append) {
  KVCache a(/*layers=*/3, /*batch=*/1, /*kv_heads=*/2, /*head_dim=*/4, at::kFloat, at::kCPU);
  KVCache b(3, 1, 2, 4, at::kFloat, at::kCPU);
  at::Tensor k = at::randn({3, 1, 2, 5, 4}), v = at::randn({3, 1, 2, 5, 4});
  at::Tensor pos = at::arange(5, at::kLong).unsqueeze(0);
  a.append_packed(k, v, pos);
  b.append(k.unbind(0), v.unbind(0), pos);
  a.append_packed(k, v, pos + 5);  // grows past the first capacity? either way, contents kept
  b.append(k.unbind(0), v.unbind(0), pos + 5);
  BOOST_TEST(a.length() == 10);
  for (int64_t l = 0; l < 3; ++l) {
    BOOST_TEST(a.keys(l).equal(b.keys(l)));
    BOOST_TEST(a.values(l).equal(b.values(l)));
  }
  BOOST_TEST(a.positions().equal(b.positions()));
}

BOOST_AUTO_TEST_CASE(slot_writes_then_advance) {
  KVCache c(/*layers=*/1, /*batch=*/1, /*kv_heads=*/2, /*head_dim=*/4, at::kFloat, at::kCPU);
  c.reserve(10);
  const void* buffers = c.buffer_id();
  at::Tensor k = at::randn({1, 2, 2, 4}), v = at::randn({1, 2, 2, 4});
  at::Tensor slots = at::tensor({0, 1}, at::kLong);
  c.update_at(0, slots, k, v);
  c.commit_at(slots, at::tensor({4, 7}, at::kLong).unsqueeze(0));
  BOOST_TEST(c.length() == 0);  // until advanced
  c.advance(2);
  BOOST_TEST(c.length() == 2);
  BOOST_TEST(at::equal(c.keys(0), k));
  BOOST_TEST(at::equal(c.values(0), v));
  BOOST_TEST(c.positions()[0][1].item<int64_t>() == 7);
  auto [k_first, v_first] = c.first_entries(0, 5);
  BOOST_TEST(k_first.size(2) == 5);
  BOOST_TEST(at::equal(k_first.narrow(2, 0, 2), k));
  BOOST_TEST(c.buffer_id() == buffers);  // nothing moved
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
