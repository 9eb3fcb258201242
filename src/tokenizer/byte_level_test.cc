#include "tokenizer/byte_level.h"

#include <boost/test/unit_test.hpp>
#include <string>

namespace pcache::tokenizer_internal {

BOOST_AUTO_TEST_SUITE(byte_level_test)

BOOST_AUTO_TEST_CASE(gpt2_alphabet) {
  BOOST_TEST(byte_level_encode(" ") == "\xC4\xA0");                   // Ġ U+0120
  BOOST_TEST(byte_level_encode("\n") == "\xC4\x8A");                  // Ċ U+010A
  BOOST_TEST(byte_level_encode("a!~") == "a!~");                      // printable ASCII is itself
  BOOST_TEST(byte_level_encode("\xC3\xA9") == "\xC3\x83\xC2\xA9");    // é's bytes: Ã ©
  BOOST_TEST(byte_level_encode(std::string(1, '\0')) == "\xC4\x80");  // Ā U+0100
  BOOST_TEST(byte_level_encode("\xAD") == "\xC5\x83");  // soft hyphen byte: the last, U+0143
}

BOOST_AUTO_TEST_CASE(every_byte_comes_back) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string back;
  BOOST_TEST_REQUIRE(byte_level_decode(byte_level_encode(all), &back));
  BOOST_TEST(back == all);
}

BOOST_AUTO_TEST_CASE(characters_outside_the_alphabet_are_refused) {
  std::string out = "kept";
  BOOST_TEST(!byte_level_decode("a\xE2\x82\xAC", &out));  // €
  BOOST_TEST(!byte_level_decode("\xC5\x84", &out));       // U+0144, just past the alphabet
  BOOST_TEST(!byte_level_decode(" ", &out));              // a raw space is not in it
  BOOST_TEST(out == "kept");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache::tokenizer_internal
