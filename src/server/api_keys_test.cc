// Only "Bearer KEY" with a known key is let in; each key is its own tenant
// unless the cache is shared; no keys lets everyone in.
#include "server/api_keys.h"

#include <boost/test/unit_test.hpp>

namespace pcache::server {

BOOST_AUTO_TEST_SUITE(api_keys_test)

BOOST_AUTO_TEST_CASE(only_a_known_bearer_key_is_let_in) {
  ApiKeys keys({"alpha", "beta"}, /*shared_cache=*/false);
  BOOST_TEST(keys.required());
  for (const char* bad : {"", "alpha", "Bearer ", "Bearer alph", "Bearer alphaa", "bearer alpha",
                          "Bearer gamma", "Basic alpha"}) {
    BOOST_TEST(!keys.authenticate(bad), bad);
  }
  auto a = keys.authenticate("Bearer alpha"), b = keys.authenticate("Bearer beta");
  BOOST_REQUIRE((a && b));
  BOOST_TEST(a->cache_salt != 0);
  BOOST_TEST(a->cache_salt != b->cache_salt);
  BOOST_TEST(a->label != b->label);
  BOOST_TEST(a->label.rfind("key-", 0) == 0);
}

BOOST_AUTO_TEST_CASE(a_shared_cache_or_no_keys_is_one_tenant) {
  ApiKeys shared({"alpha", "beta"}, /*shared_cache=*/true);
  BOOST_TEST(shared.authenticate("Bearer alpha")->cache_salt == 0);
  BOOST_TEST(shared.authenticate("Bearer beta")->label == "shared");
  ApiKeys open({}, false);
  BOOST_TEST(!open.required());
  BOOST_TEST(open.authenticate("")->cache_salt == 0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache::server
