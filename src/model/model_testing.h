// Helpers of the model tests: loading a fixture model, and the precondition
// of the suites that need a GPU (skipped, and reported so, without one).
#pragma once

#include <boost/test/unit_test.hpp>
#include <memory>
#include <string>
#include <vector>

#include "model/checkpoint.h"
#include "model/llama.h"
#include "testing.h"

namespace pcache::testing {

struct CudaPresent {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) {
    return at::hasCUDA();
  }
};

// n token ids in [3, below) (by default a 32k vocabulary), repeatable per seed.
inline std::vector<int> some_ids(int64_t n, int64_t seed, int64_t below = 32003) {
  std::vector<int> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<int>((i * 7919 + seed * 104729) % (below - 3) + 3);
  return v;
}

// first, first + 1, ..., n of them.
inline std::vector<int64_t> range(int64_t first, int64_t n) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = first + i;
  return v;
}

inline std::unique_ptr<LlamaModel> load_fixture_model(
    const std::string& name, at::ScalarType dtype, at::Device device,
    WeightFormat weights = WeightFormat::kModelDtype) {
  auto ck = Checkpoint::open(fixture(name));
  BOOST_REQUIRE_MESSAGE(ck.ok(), ck.status().to_string());
  auto model = LlamaModel::load(**ck, dtype, device, weights);
  BOOST_REQUIRE_MESSAGE(model.ok(), model.status().to_string());
  return std::move(model).value();
}

}  // namespace pcache::testing
