#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "pcache/tokenizer.h"
#include "tokenizer/tokenizer_testing.h"

namespace pcache {
namespace {

using testing::mistral_tokenizer;

bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    auto lead = static_cast<unsigned char>(s[i]);
    size_t length = lead < 0x80           ? 1
                    : (lead >> 5) == 0x6  ? 2
                    : (lead >> 4) == 0xE  ? 3
                    : (lead >> 3) == 0x1E ? 4
                                          : 0;
    if (length == 0 || i + length > s.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

// Every piece pushed, then the flush.
std::vector<std::string> stream(const std::vector<int>& ids) {
  TokenStreamDecoder decoder(mistral_tokenizer());
  std::vector<std::string> pieces;
  for (int id : ids) pieces.push_back(decoder.push(id));
  pieces.push_back(decoder.flush());
  return pieces;
}

std::string join(const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& p : pieces) out += p;
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(token_stream_decoder_test)

BOOST_AUTO_TEST_CASE(equals_full_decode) {
  const Tokenizer& t = mistral_tokenizer();
  // héllo 🦩 wörld 你好 🙂! with control ids mixed in; 🦩 is four byte pieces.
  std::vector<int> ids = t.encode(
      "h\xC3\xA9llo \xF0\x9F\xA6\xA9 w\xC3\xB6rld \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x99\x82!");
  ids.insert(ids.begin(), t.bos_id());
  ids.push_back(t.eos_id());
  std::vector<std::string> pieces = stream(ids);
  BOOST_TEST(join(pieces) == t.decode(ids));
  for (const std::string& p : pieces) BOOST_TEST(valid_utf8(p), "piece '" << p << "'");
}

BOOST_AUTO_TEST_CASE(holds_back_byte_fallback_until_the_character_is_whole) {
  // ▁ <0xF0> <0x9F> <0xA6> <0xA9> "!": the flamingo appears in one piece.
  std::vector<std::string> pieces = stream({29473, 1011, 930, 937, 940, 29576});
  BOOST_TEST(pieces == (std::vector<std::string>{"", "", "", "", "\xF0\x9F\xA6\xA9", "!", ""}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(emits_words_as_they_come) {
  // ▁hell o ▁world
  BOOST_TEST(stream({7080, 29477, 2294}) == (std::vector<std::string>{"hell", "o", " world", ""}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(flush_returns_an_unfinished_character) {
  const Tokenizer& t = mistral_tokenizer();
  std::vector<int> ids = {7080, 1011, 930};  // "hell" then two of four bytes
  std::vector<std::string> pieces = stream(ids);
  BOOST_TEST(pieces[0] == "hell");
  BOOST_TEST(pieces[1] == "");
  BOOST_TEST(pieces[2] == "");
  BOOST_TEST(!pieces[3].empty());
  BOOST_TEST(join(pieces) == t.decode(ids));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
