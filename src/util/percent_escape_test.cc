#include "util/percent_escape.h"

#include <boost/test/unit_test.hpp>

namespace pcache {
namespace {

std::string escaped(std::string_view text, std::string_view reserved) {
  std::string out = "<";
  append_percent_escaped(out, text, reserved);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(percent_escape_test)

BOOST_AUTO_TEST_CASE(escapes_percent_and_the_reserved_characters_only) {
  BOOST_TEST(escaped("a:b%c/d", ":") == "<a%3Ab%25c/d");
  BOOST_TEST(escaped("a:b%c/d", "/") == "<a:b%25c%2Fd");
  BOOST_TEST(escaped("t#1:x", ":#") == "<t%231%3Ax");
  BOOST_TEST(escaped("", ":") == "<");
  BOOST_TEST(escaped("plain", "") == "<plain");
}

// An escaped text never holds a separator, and two texts never escape alike
// (the reason keys can be split at separators).
BOOST_AUTO_TEST_CASE(results_are_unambiguous) {
  BOOST_TEST(escaped("%3A", ":") != escaped(":", ":"));
  BOOST_TEST(escaped(std::string_view("\0:", 2), ":") == std::string("<\0%3A", 5));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
