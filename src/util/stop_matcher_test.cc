// Stop strings split over pieces are found, partial matches are held back
// and released when they turn out not to be stops.
#include "util/stop_matcher.h"

#include <boost/test/unit_test.hpp>

namespace pcache {

BOOST_AUTO_TEST_SUITE(stop_matcher_test)

BOOST_AUTO_TEST_CASE(a_stop_split_over_pieces_ends_the_text_before_it) {
  StopMatcher m({"\n\n", "END"});
  std::string out = m.push("Hello E");
  BOOST_TEST(out == "Hello ");  // "E" may start END
  out += m.push("N");
  BOOST_TEST(!m.stopped());
  out += m.push("D and more");
  BOOST_TEST(m.stopped());
  BOOST_TEST(out == "Hello ");
  BOOST_TEST(m.push("ignored") == "");
  BOOST_TEST(m.flush() == "");
}

BOOST_AUTO_TEST_CASE(a_partial_match_that_fails_is_released) {
  StopMatcher m({"stop"});
  std::string out = m.push("a st");
  out += m.push("ep");
  BOOST_TEST(out == "a step");
  out += m.push(" sto");
  out += m.flush();
  BOOST_TEST(out == "a step sto");
  BOOST_TEST(!m.stopped());
}

BOOST_AUTO_TEST_CASE(the_earliest_stop_wins_and_no_stops_pass_everything) {
  StopMatcher m({"bb", "ab"});
  BOOST_TEST(m.push("xxabb") == "xx");
  StopMatcher none({});
  BOOST_TEST(none.push("anything") == "anything");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
