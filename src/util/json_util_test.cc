#include "util/json_util.h"

#include <boost/test/unit_test.hpp>
#include <string>

namespace pcache {
namespace {

std::string error_of(const std::string& text) {
  auto j = parse_json(text, "f.json");
  BOOST_REQUIRE(!j.ok());
  BOOST_TEST(j.status().code() == StatusCode::kCorruption);
  return j.status().message();
}

bool has(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(json_util_test)

BOOST_AUTO_TEST_CASE(parses_valid_json) {
  auto j = parse_json(R"({"a": [1, 2, {"b": "c"}], "d": 1.5e3})", "f.json");
  BOOST_REQUIRE(j.ok());
  BOOST_TEST((*j)["a"][2]["b"].get<std::string>() == "c");
  BOOST_TEST((*j)["d"].get<double>() == 1500.0);
}

BOOST_AUTO_TEST_CASE(a_number_that_overflows_a_double_is_an_error_not_an_abort) {
  // nlohmann::json throws out_of_range (406) here, not parse_error.
  BOOST_TEST(has(error_of(R"({"rope_theta": 1e400})"), "f.json: not valid JSON"));
  BOOST_TEST(has(error_of(R"([-1e400])"), "f.json: not valid JSON"));
}

BOOST_AUTO_TEST_CASE(duplicate_keys_are_refused) {
  BOOST_TEST(has(error_of(R"({"a": 1, "b": 2, "a": 3})"), "key \"a\" given twice"));
  // The same key in two objects is fine.
  BOOST_TEST(parse_json(R"({"x": {"a": 1}, "y": {"a": 2}})", "f.json").ok());
}

BOOST_AUTO_TEST_CASE(deep_nesting_is_refused) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  BOOST_TEST(has(error_of(deep), "nested deeper than"));
  const std::string ok = std::string(10, '[') + std::string(10, ']');
  BOOST_TEST(parse_json(ok, "f.json").ok());
}

BOOST_AUTO_TEST_CASE(malformed_text_is_named_and_binary_never_echoed) {
  const std::string e = error_of(std::string("{\"a\": \"\x01\xfe\xff", 9));
  BOOST_TEST(has(e, "f.json: not valid JSON"));
  for (char c : e) BOOST_TEST((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f));
}

BOOST_AUTO_TEST_CASE(excerpts_of_values_are_short) {
  nlohmann::json big = std::string(1 << 20, 'y');
  BOOST_TEST(json_excerpt(big).size() < 100);
  BOOST_TEST(json_excerpt(nlohmann::json(5)) == "5");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
