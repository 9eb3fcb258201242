#include "tokenizer/regex_splitter.h"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "testing.h"

namespace pcache::tokenizer_internal {
namespace {

// Llama 3's pre-tokenizer pattern.
const std::string kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::vector<std::string> split(const std::string& pattern, const std::string& text) {
  auto splitter = testing::ok(RegexSplitter::compile(pattern, "test"));
  std::vector<std::string> out;
  for (std::string_view p : splitter.split(text)) out.emplace_back(p);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(regex_splitter_test)

BOOST_AUTO_TEST_CASE(llama3_pattern) {
  using V = std::vector<std::string>;
  BOOST_TEST(split(kLlama3, "Hello world's 12345!!\n\n  x") ==
                 (V{"Hello", " world", "'s", " ", "123", "45", "!!\n\n", " ", " x"}),
             boost::test_tools::per_element());
  // Unicode letters and numbers by property; caseless contractions.
  BOOST_TEST(split(kLlama3, "caf\xC3\xA9 I'M \xE2\x85\xAB") ==
                 (V{"caf\xC3\xA9", " I", "'M", " ", "\xE2\x85\xAB"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unmatched_runs_are_pieces_too) {
  using V = std::vector<std::string>;
  BOOST_TEST(split("[0-9]+", "ab12cd3") == (V{"ab", "12", "cd", "3"}),
             boost::test_tools::per_element());
  BOOST_TEST(split("x*", "abc") == (V{"abc"}),
             boost::test_tools::per_element());  // only empty matches
  BOOST_TEST(split("[0-9]+", "").empty());
}

BOOST_AUTO_TEST_CASE(a_bad_pattern_names_where) {
  auto r = RegexSplitter::compile("(?<", "tokenizer.json: pre_tokenizer");
  BOOST_TEST_REQUIRE(!r.ok());
  BOOST_TEST(r.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(
      r.status().message().find("tokenizer.json: pre_tokenizer: regex \"(?<\" at offset 3") == 0u,
      r.status().message());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache::tokenizer_internal
