#include "cache/remote_manifest.h"

#include <xxhash.h>

#include <cstring>

#include "cache/remote_format.h"
#include "util/binary_io.h"

namespace pcache {

namespace fmt = remote_format;

std::string RemoteManifest::encode() const {
  std::string out(fmt::kMagic, fmt::kMagicBytes);
  append_u32(out, fmt::kVersion);
  append_u32(out, chunks);
  append_u64(out, value_bytes);
  append_u64(out, chunk_bytes);
  append_u64(out, generation);
  append_u64(out, value_hash);
  append_u64(
      out, XXH64(out.data() + fmt::kMagicBytes, out.size() - fmt::kMagicBytes, fmt::kChecksumSeed));
  return out;
}

StatusOr<RemoteManifest> RemoteManifest::decode(std::string_view bytes, const std::string& label) {
  if (bytes.size() != fmt::kManifestBytes ||
      std::memcmp(bytes.data(), fmt::kMagic, fmt::kMagicBytes) != 0) {
    return Status::corruption(label + ": not a pcache manifest (" + std::to_string(bytes.size()) +
                              " bytes)");
  }
  RemoteManifest m;
  ByteCursor in(reinterpret_cast<const unsigned char*>(bytes.data()) + fmt::kMagicBytes,
                bytes.size() - fmt::kMagicBytes);
  uint32_t version = 0;
  uint64_t stored = 0;
  in.read(&version);
  in.read(&m.chunks);
  in.read(&m.value_bytes);
  in.read(&m.chunk_bytes);
  in.read(&m.generation);
  in.read(&m.value_hash);
  in.read(&stored);
  const uint64_t actual =
      XXH64(bytes.data() + fmt::kMagicBytes, bytes.size() - fmt::kMagicBytes - sizeof stored,
            fmt::kChecksumSeed);
  if (stored != actual) return Status::corruption(label + ": manifest checksum mismatch");
  if (version != fmt::kVersion) {
    return Status::corruption(label + ": manifest version " + std::to_string(version));
  }
  // The ceiling without overflow: a value near 2^64 bytes must not pass as
  // a few chunks.
  const bool sound =
      m.chunk_bytes >= 1 && m.chunk_bytes <= fmt::kMaxChunkBytes && m.chunks <= fmt::kMaxChunks &&
      m.value_bytes / m.chunk_bytes + (m.value_bytes % m.chunk_bytes != 0) == m.chunks;
  if (!sound) return Status::corruption(label + ": manifest sizes inconsistent");
  return m;
}

uint64_t RemoteManifest::chunk_size(uint32_t i) const {
  return i + 1 < chunks ? chunk_bytes : value_bytes - uint64_t{i} * chunk_bytes;
}

}  // namespace pcache
