// Helpers of the tests that load and rewrite engines' snapshot files.
#pragma once

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstring>
#include <string>

#include "runtime/snapshot.h"
#include "runtime/snapshot_format.h"
#include "util/file_util.h"

namespace pcache::testing {

// The model fingerprint a snapshot file was written with (its header), which
// read_snapshot asks for.
inline std::string snapshot_fingerprint(const std::string& path) {
  namespace fmt = snapshot_format;
  auto bytes = read_file(path, 1u << 30, "snapshot");
  BOOST_REQUIRE_MESSAGE(bytes.ok(), bytes.status().to_string());
  uint32_t n = 0;
  std::memcpy(&n, bytes->data() + fmt::kMagicBytes + 8, sizeof n);
  return bytes->substr(fmt::kMagicBytes + 12, n);
}

// The snapshot at `path`, read as an engine on the CPU in float32 would.
inline Snapshot read_engine_snapshot(const std::string& path) {
  auto snap = read_snapshot(path, snapshot_fingerprint(path), at::kCPU, at::kFloat);
  BOOST_REQUIRE_MESSAGE(snap.ok(), snap.status().to_string());
  return std::move(snap).value();
}

}  // namespace pcache::testing
