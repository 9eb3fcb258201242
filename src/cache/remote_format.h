// Constants of the remote tier's values in Redis (docs/formats.md, "Remote
// tier"). A value of V bytes is stored as N = ceil(V / C) chunk keys of C
// bytes (the last one shorter) and, written after them, a manifest under the
// value's own key, little-endian:
//   magic "PCREMV01" | u32 version | u32 N | u64 V | u64 C | u64 generation |
//   u64 XXH64 (seed 0) of the value | u64 XXH64 (seed 0) of the manifest's
//   bytes 8..48 (everything after the magic before this field).
// Chunk i lives under "<key>#<generation as 16 hex digits>:<i>" (decimal i):
// every put draws a new generation, so a reader that holds a manifest reads
// that put's chunks and never a mix of two.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pcache::remote_format {

inline constexpr char kMagic[8] = {'P', 'C', 'R', 'E', 'M', 'V', '0', '1'};
inline constexpr size_t kMagicBytes = sizeof(kMagic);
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kManifestBytes = kMagicBytes + 4 + 4 + 8 + 8 + 8 + 8 + 8;
inline constexpr uint64_t kChecksumSeed = 0;
inline constexpr char kChunkSeparator = '#';
// Values are split so that each Redis string stays far below Redis's 512 MB
// limit and moves in one pipelined reply without a long stall of the server.
// 1 MiB, measured against 256 KiB and 4 MiB (docs/benchmarks.md, "Remote
// tier"): larger buffers cost hiredis more copies and fresh pages.
inline constexpr int64_t kDefaultChunkBytes = 1ll << 20;
// A manifest claiming more chunks than this is damaged (1 MiB chunks: 1 TiB).
inline constexpr uint32_t kMaxChunks = 1u << 20;
// Nor can a chunk be larger than a Redis string (512 MiB).
inline constexpr uint64_t kMaxChunkBytes = 512ull << 20;

// Key prefixes below the tier's key prefix (remote_keys.h).
inline constexpr const char* kModulePrefix = "mod:";
inline constexpr const char* kStatePrefix = "state:";

}  // namespace pcache::remote_format
