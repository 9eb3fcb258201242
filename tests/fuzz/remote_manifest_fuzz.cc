// Fuzz target: a remote tier manifest (cache/remote_manifest.h), as Redis
// hands back whatever was stored under a value's key. The checksum is
// recomputed (checksummed.h), so that mutants reach the size checks. A
// manifest that decodes must encode to the same bytes and name chunks whose
// sizes add up to the value's, each at most chunk_bytes: what the tier then
// reads and allocates by.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "cache/remote_format.h"
#include "cache/remote_manifest.h"
#include "fuzz/checksummed.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcache;
  const std::string bytes = fuzz::with_checksum(data, size, remote_format::kMagicBytes);
  StatusOr<RemoteManifest> m = RemoteManifest::decode(bytes, "fuzz");
  if (!m.ok()) {
    if (m.status().code() != StatusCode::kCorruption) std::abort();
    return 0;
  }
  if (m->encode() != bytes) std::abort();
  if (m->chunks == 0) {
    if (m->value_bytes != 0) std::abort();
    return 0;
  }
  const uint64_t last = m->chunk_size(m->chunks - 1);
  if (last == 0 || last > m->chunk_bytes || m->chunk_bytes > remote_format::kMaxChunkBytes)
    std::abort();
  if ((m->chunks - 1) * m->chunk_bytes + last != m->value_bytes) std::abort();
  return 0;
}
