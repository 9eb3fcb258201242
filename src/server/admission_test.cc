// The limit is exact, a ticket's end frees its place, and a closed admission
// refuses everyone.
#include "server/admission.h"

#include <boost/test/unit_test.hpp>

namespace pcache::server {

BOOST_AUTO_TEST_SUITE(admission_test)

BOOST_AUTO_TEST_CASE(the_limit_is_exact_and_tickets_free_their_place) {
  Admission a(2);
  auto first = a.try_enter(), second = a.try_enter();
  BOOST_TEST((first && second));
  BOOST_TEST(!a.try_enter());
  BOOST_TEST(a.in_flight() == 2);
  first.reset();
  BOOST_TEST(a.in_flight() == 1);
  BOOST_TEST(!a.wait_idle(0));
  auto third = a.try_enter();
  BOOST_TEST(bool(third));
  second.reset();
  third.reset();
  BOOST_TEST(a.wait_idle(0));
}

BOOST_AUTO_TEST_CASE(closed_admission_refuses_everyone) {
  Admission a(4);
  a.close();
  BOOST_TEST(!a.try_enter());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache::server
