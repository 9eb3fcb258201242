// For the checksummed formats (snapshots, module files: magic, fields, then an
// XXH64 of every byte after the magic): the input with its last 8 bytes
// replaced by the checksum of the rest, so that mutants reach the checks
// behind it rather than all stopping at a bad checksum (which the unit tests
// cover).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "xxhash.h"

namespace pcache::fuzz {

inline std::string with_checksum(const uint8_t* data, size_t size, size_t magic_bytes) {
  std::string s(reinterpret_cast<const char*>(data), size);
  if (s.size() < magic_bytes + 8) return s;
  const size_t body = s.size() - 8;
  uint64_t h = XXH64(s.data() + magic_bytes, body - magic_bytes, 0);
  for (int i = 0; i < 8; ++i) s[body + i] = static_cast<char>(h >> (8 * i));  // little-endian
  return s;
}

}  // namespace pcache::fuzz
