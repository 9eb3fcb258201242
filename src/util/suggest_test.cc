#include "util/suggest.h"

#include <boost/test/unit_test.hpp>

namespace pcache {

BOOST_AUTO_TEST_SUITE(suggest_test)

BOOST_AUTO_TEST_CASE(edit_distance_counts_edits) {
  BOOST_TEST(edit_distance("", "") == 0u);
  BOOST_TEST(edit_distance("promt", "prompt") == 1u);
  BOOST_TEST(edit_distance("serv", "serve") == 1u);
  BOOST_TEST(edit_distance("kitten", "sitting") == 3u);
  BOOST_TEST(edit_distance("abc", "") == 3u);
}

BOOST_AUTO_TEST_CASE(nearest_words_gives_every_tie_and_nothing_far) {
  const std::vector<std::string> keys = {"top_k", "top_p", "seed", "temperature"};
  BOOST_TEST(nearest_words("top_q", keys) == (std::vector<std::string>{"top_k", "top_p"}));
  BOOST_TEST(nearest_words("sed", keys) == (std::vector<std::string>{"seed"}));
  BOOST_TEST(nearest_words("model", keys).empty());
  BOOST_TEST(nearest_words("temprature", keys, 1) == (std::vector<std::string>{"temperature"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
