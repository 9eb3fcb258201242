#include "util/excerpt.h"

#include <boost/test/unit_test.hpp>
#include <string>

namespace pcache {

BOOST_AUTO_TEST_SUITE(excerpt_test)

BOOST_AUTO_TEST_CASE(short_text_is_quoted_whole) {
  BOOST_TEST(excerpt("llama") == "\"llama\"");
  BOOST_TEST(excerpt("") == "\"\"");
}

BOOST_AUTO_TEST_CASE(control_and_binary_bytes_are_escaped) {
  BOOST_TEST(excerpt(std::string("a\n\"\\\x01\xff", 6)) == "\"a\\n\\\"\\\\\\x01\\xff\"");
}

BOOST_AUTO_TEST_CASE(long_text_is_cut_and_its_size_given) {
  const std::string big(10 << 20, 'x');
  const std::string e = excerpt(big, 8);
  BOOST_TEST(e == "\"xxxxxxxx\"... (10485760 bytes)");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
