// Helpers for tests: where the fixtures are.
#pragma once

#include <string>

namespace pcache::testing {

// ../shared/fixtures, or $PCACHE_FIXTURES when set (the GPU machine carries them elsewhere).
std::string fixtures_dir();
// fixtures_dir() + "/" + name.
std::string fixture(const std::string& name);
// A fresh empty directory under the system temp dir, unique per call.
std::string make_temp_dir();

}  // namespace pcache::testing
