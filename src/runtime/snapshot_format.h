// Constants of the snapshot file (docs/formats.md, "Snapshot files"): one
// saved state per file, little-endian:
//   magic "PCSNAP01" | u32 version | u32 flags | u32 F | fingerprint (F bytes) |
//   u32 dtype | u32 num_layers | u32 kv_heads | u32 head_dim | u64 T | u64 V |
//   T x i32 tokens | T x i64 positions | V x f32 last logits |
//   u32 S | sampler state (S bytes) |
//   per layer K then V: [Hkv, T, D] in dtype, or with kFlagInt8 f32 scales
//   [Hkv, 1, D] then int8 values [Hkv, T, D] |
//   u64 XXH64 (seed 0) of every byte after the magic up to the checksum.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pcache::snapshot_format {

// The magic names the kind of file and never changes; the version does.
inline constexpr char kMagic[8] = {'P', 'C', 'S', 'N', 'A', 'P', '0', '1'};
inline constexpr size_t kMagicBytes = sizeof(kMagic);
inline constexpr uint32_t kVersion = 1;

// flags: bit 0, K and V stored as per-channel int8 with float32 scales.
inline constexpr uint32_t kFlagInt8 = 1u << 0;
inline constexpr uint32_t kKnownFlags = kFlagInt8;

// Header bytes besides the fingerprint: magic, version, flags, F, dtype,
// num_layers, kv_heads, head_dim (u32 each after the magic), T and V (u64).
inline constexpr size_t kFixedHeaderBytes = kMagicBytes + 7 * 4 + 2 * 8;
inline constexpr size_t kSamplerLengthBytes = 4;
inline constexpr size_t kChecksumBytes = 8;
// The smallest well-formed size, were every variable part empty: shorter is truncated.
inline constexpr size_t kMinFileBytes = kFixedHeaderBytes + kSamplerLengthBytes + kChecksumBytes;
inline constexpr uint64_t kChecksumSeed = 0;
// Fingerprints are 16 hex digits; a longer one means a damaged file.
inline constexpr uint32_t kMaxFingerprintBytes = 256;

// int8: round(x / scale) clamped to +-kInt8Max, scale = max |x| / kInt8Max.
inline constexpr int kInt8Max = 127;

// dtype of K and V as given to write_snapshot (for int8: before quantizing).
enum DtypeCode : uint32_t { kF32 = 0, kBF16 = 1, kF16 = 2 };

}  // namespace pcache::snapshot_format
