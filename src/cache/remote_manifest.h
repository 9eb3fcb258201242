// RemoteManifest: the record written last under a remote value's own key,
// naming its chunks (format: remote_format.h, docs/formats.md "Remote
// tier"). Its reader takes bytes from Redis, which anyone with access to the
// server may have written: decode() checks everything before anything is
// used (tests/fuzz/remote_manifest_fuzz.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "pcache/status.h"

namespace pcache {

struct RemoteManifest {
  uint32_t chunks = 0;       // ceil(value_bytes / chunk_bytes), at most kMaxChunks
  uint64_t value_bytes = 0;  // the value's size
  uint64_t chunk_bytes = 0;  // every chunk's size but the last's; 1 .. kMaxChunkBytes
  uint64_t generation = 0;   // the put's own, in its chunks' keys
  uint64_t value_hash = 0;   // XXH64 of the value

  std::string encode() const;
  // The manifest `bytes` hold, or Corruption "<label>: why" (not a manifest,
  // checksum, version, sizes that do not agree).
  static StatusOr<RemoteManifest> decode(std::string_view bytes, const std::string& label);
  // The bytes chunk `i` (< chunks) holds.
  uint64_t chunk_size(uint32_t i) const;
};

}  // namespace pcache
