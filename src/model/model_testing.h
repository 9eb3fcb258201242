// Helpers of the model tests: loading a fixture model, and the precondition
// of the suites that need a GPU (skipped, and reported so, without one).
#pragma once

#include <boost/test/unit_test.hpp>
#include <memory>
#include <string>

#include "model/checkpoint.h"
#include "model/llama.h"
#include "testing.h"

namespace pcache::testing {

struct CudaPresent {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) {
    return at::hasCUDA();
  }
};

inline std::unique_ptr<LlamaModel> load_fixture_model(const std::string& name,
                                                      at::ScalarType dtype, at::Device device) {
  auto ck = Checkpoint::open(fixture(name));
  BOOST_REQUIRE_MESSAGE(ck.ok(), ck.status().to_string());
  auto model = LlamaModel::load(**ck, dtype, device);
  BOOST_REQUIRE_MESSAGE(model.ok(), model.status().to_string());
  return std::move(model).value();
}

}  // namespace pcache::testing
