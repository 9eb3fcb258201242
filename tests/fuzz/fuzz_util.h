// Helpers shared by the fuzz targets (tests/fuzz/*_fuzz.cc): where the source
// tree and fixtures are, and a private temp folder for readers that take a
// path. Nothing here writes outside that folder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pcache::fuzz {

// The source tree (schemas/, tests/fuzz/corpus/).
std::string source_dir();
// ../shared/fixtures, or $PCACHE_FIXTURES when set.
std::string fixtures_dir();
// A folder under the system temp dir, made on first use and removed with its
// contents at exit.
const std::string& temp_dir();
// Replaces temp_dir()/name with the bytes and returns its path; aborts when
// it cannot (a fuzz run is meaningless then).
std::string write_temp_file(const std::string& name, const uint8_t* data, size_t size);

}  // namespace pcache::fuzz
