#include "pcache/status.h"

#include <boost/test/unit_test.hpp>

namespace pcache {
namespace {

StatusOr<int> parse_positive(int v) {
  if (v <= 0) return Status::invalid_argument("not positive: " + std::to_string(v));
  return v;
}

Status double_it(int v, int* out) {
  PCACHE_ASSIGN_OR_RETURN(int x, parse_positive(v));
  *out = 2 * x;
  return Status::ok_status();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(status_test)

BOOST_AUTO_TEST_CASE(ok_and_error) {
  BOOST_TEST(Status().ok());
  Status s = Status::corruption("file.bin: bad magic");
  BOOST_TEST(!s.ok());
  BOOST_TEST(s.code() == StatusCode::kCorruption);
  BOOST_TEST(s.to_string() == "Corruption: file.bin: bad magic");
  BOOST_TEST(s.with_context("loading").message() == "loading: file.bin: bad magic");
}

BOOST_AUTO_TEST_CASE(status_or_propagates) {
  int out = 0;
  BOOST_TEST(double_it(4, &out).ok());
  BOOST_TEST(out == 8);
  Status s = double_it(-1, &out);
  BOOST_TEST(s.code() == StatusCode::kInvalidArgument);
  BOOST_TEST(s.message() == "not positive: -1");
  BOOST_TEST(out == 8);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
