#include "util/utf8.h"

#include <boost/test/unit_test.hpp>
#include <string>

namespace pcache {

BOOST_AUTO_TEST_SUITE(utf8_test)

BOOST_AUTO_TEST_CASE(valid_text_is_unchanged) {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a é € 😀
  BOOST_TEST(replace_invalid_utf8(text) == text);
  BOOST_TEST(utf8_char_length(text) == 1u);
  BOOST_TEST(utf8_char_length(text.substr(1)) == 2u);
  BOOST_TEST(utf8_char_length(text.substr(3)) == 3u);
  BOOST_TEST(utf8_char_length(text.substr(6)) == 4u);
  BOOST_TEST(utf8_char_length("") == 0u);
}

// The cases of Unicode's "substitution of maximal subparts" (Table 3-8), the
// same as Python's bytes.decode(errors="replace").
BOOST_AUTO_TEST_CASE(each_maximal_ill_formed_subpart_becomes_one_replacement) {
  const std::string r = "\xEF\xBF\xBD";
  BOOST_TEST(replace_invalid_utf8("\x80") == r);                          // lone continuation
  BOOST_TEST(replace_invalid_utf8("\xE2\x82") == r);                      // cut short at the end
  BOOST_TEST(replace_invalid_utf8("\xE2\x82x") == r + "x");               // cut short inside
  BOOST_TEST(replace_invalid_utf8("\xC0\xAF") == r + r);                  // overlong lead
  BOOST_TEST(replace_invalid_utf8("\xE0\x80\xAF") == r + r + r);          // overlong 3-byte
  BOOST_TEST(replace_invalid_utf8("\xED\xA0\x80") == r + r + r);          // surrogate
  BOOST_TEST(replace_invalid_utf8("\xF4\x90\x80\x80") == r + r + r + r);  // past U+10FFFF
  BOOST_TEST(replace_invalid_utf8("\xF0\x9F\x98") == r);                  // 4-byte cut short
  BOOST_TEST(replace_invalid_utf8("\xFF\xFE") == r + r);
  BOOST_TEST(utf8_char_length("\xE2\x82") == 0u);
  BOOST_TEST(utf8_char_length("\xED\xA0\x80") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
