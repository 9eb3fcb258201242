// Helpers for tests: where the fixtures are, temporary folders, results.
#pragma once

#include <boost/test/unit_test.hpp>
#include <string>
#include <utility>
#include <vector>

#include "pcache/generation.h"
#include "pcache/status.h"

namespace pcache::testing {

// ../shared/fixtures, or $PCACHE_FIXTURES when set (the GPU machine carries them elsewhere).
std::string fixtures_dir();
// fixtures_dir() + "/" + name.
std::string fixture(const std::string& name);
// The test models there (tiny-mistral, tiny-llama), less those not staged: a
// GPU run may carry only one beside the demo model (bench/run_gpu.sh). Each
// missing one is reported; an empty list fails the calling test.
std::vector<std::string> staged_models();
// A fresh empty directory under the system temp dir, removed with its
// contents on destruction.
struct TempDir {
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

// Sampling options: temperature (0: greedy), top_k (0: off), top_p (1: off), seed.
inline SamplingOptions sampling(float temperature, int top_k, float top_p, uint64_t seed) {
  SamplingOptions o;
  o.temperature = temperature;
  o.top_k = top_k;
  o.top_p = top_p;
  o.seed = seed;
  return o;
}

// The value of `r`; the test stops there, naming the status, when it is an error.
template <typename T>
T ok(StatusOr<T> r) {
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  return std::move(r).value();
}

}  // namespace pcache::testing
