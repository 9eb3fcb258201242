#include "tokenizer/bpe_model.h"

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "testing.h"

namespace pcache::tokenizer_internal {
namespace {

using Ids = std::vector<int>;

BpeModel model(std::vector<std::pair<std::string, std::string>> merges,
               BpeModel::Options options = {}) {
  std::unordered_map<std::string, int> vocab = {{"a", 0},  {"b", 1},   {"c", 2},  {"ab", 3},
                                                {"bc", 4}, {"abc", 5}, {"aa", 6}, {"cab", 7}};
  return testing::ok(BpeModel::build(vocab, merges, options, "test"));
}

Ids encode(const BpeModel& m, const std::string& word) {
  Ids out;
  m.encode(word, &out);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bpe_model_test)

BOOST_AUTO_TEST_CASE(lowest_rank_first) {
  // "bc" outranks "ab": a|bc, then no merge of (a, bc) exists.
  BOOST_TEST(encode(model({{"b", "c"}, {"a", "b"}}), "abc") == (Ids{0, 4}),
             boost::test_tools::per_element());
  BOOST_TEST(encode(model({{"a", "b"}, {"b", "c"}, {"ab", "c"}}), "abc") == (Ids{5}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(leftmost_among_equal_pairs) {
  BOOST_TEST(encode(model({{"a", "a"}}), "aaa") == (Ids{6, 0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(ignore_merges_takes_a_whole_word) {
  // Merges alone cannot make "cab" (no merge (c, ab)); with ignore_merges the
  // word is in the vocabulary and is taken whole.
  BOOST_TEST(encode(model({{"a", "b"}}), "cab") == (Ids{2, 3}), boost::test_tools::per_element());
  BpeModel::Options whole;
  whole.ignore_merges = true;
  BOOST_TEST(encode(model({{"a", "b"}}, whole), "cab") == (Ids{7}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unknown_characters_are_dropped_or_unk) {
  BOOST_TEST(encode(model({}),
                    "a\xE2\x82\xAC"
                    "b") == (Ids{0, 1}),
             boost::test_tools::per_element());
  BpeModel::Options unk;
  unk.unk_id = 2;
  BOOST_TEST(encode(model({}, unk),
                    "a\xE2\x82\xAC"
                    "b") == (Ids{0, 2, 1}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_merge_outside_the_vocabulary_is_corruption) {
  auto r = BpeModel::build({{"a", 0}, {"b", 1}}, {{"a", "b"}}, {}, "tokenizer.json: model");
  BOOST_TEST_REQUIRE(!r.ok());
  BOOST_TEST(r.status().code() == StatusCode::kCorruption);
  BOOST_TEST(r.status().message() ==
             "tokenizer.json: model: merge 0 (\"a\" \"b\"): \"ab\" is not in the vocabulary");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache::tokenizer_internal
