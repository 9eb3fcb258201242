// What the engine's measurement programs (remote_tier, snapshot_int8) share:
// exiting on an error, timing, and the engine flags they all take.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "pcache/engine_options.h"
#include "pcache/status.h"

namespace pcache::bench {

// The value, or the error on stderr and exit status 1.
template <typename T>
T must(StatusOr<T> r) {
  if (!r.ok()) {
    std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

inline double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Applies "--device D" or "--dtype T" to `options`; false for any other flag.
inline bool engine_flag(const std::string& flag, const char* value, EngineOptions& options) {
  if (flag == "--device") {
    options.device = value;
  } else if (flag == "--dtype") {
    options.dtype = value;
  } else {
    return false;
  }
  return true;
}

}  // namespace pcache::bench
