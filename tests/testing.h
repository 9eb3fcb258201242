// Helpers for tests: where the fixtures are.
#pragma once

#include <string>

namespace pcache::testing {

// ../shared/fixtures, or $PCACHE_FIXTURES when set (the GPU machine carries them elsewhere).
std::string fixtures_dir();
// fixtures_dir() + "/" + name.
std::string fixture(const std::string& name);
// A fresh empty directory under the system temp dir, removed with its
// contents on destruction.
struct TempDir {
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

}  // namespace pcache::testing
