// Constants of the snapshot file (docs/formats.md, "Snapshot files"): one
// saved state per file, little-endian. Version 2:
//   magic "PCSNAP01" | u32 version | u32 flags | u32 F | fingerprint (F bytes) |
//   u32 dtype | u32 num_layers | u32 kv_heads | u32 head_dim | u64 T | u64 V |
//   T x i32 tokens | T x i64 positions | V x f32 last logits |
//   i64 resume position | u32 state flags | u64 sampler seed | u64 sampler draws |
//   per layer K then V: [Hkv, T, D] in dtype, or with kFlagInt8 f32 scales
//   [Hkv, 1, D] then int8 values [Hkv, T, D] |
//   u64 XXH64 (seed 0) of every byte after the magic up to the checksum.
// Version 1 (still read) had, in place of the 28 bytes after the logits,
//   u32 S | S bytes of text: "open_system_turn=1 " and "resume_position=N "
//   tags (each optional, in that order), then the sampler's own text.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pcache::snapshot_format {

// The magic names the kind of file and never changes; the version does.
inline constexpr char kMagic[8] = {'P', 'C', 'S', 'N', 'A', 'P', '0', '1'};
inline constexpr size_t kMagicBytes = sizeof(kMagic);
inline constexpr uint32_t kVersion = 2;
inline constexpr uint32_t kVersion1 = 1;

// flags: bit 0, K and V stored as per-channel int8 with float32 scales.
inline constexpr uint32_t kFlagInt8 = 1u << 0;
inline constexpr uint32_t kKnownFlags = kFlagInt8;

// State flags (version 2): bit 0, a chat whose system prompt opened a turn
// that the first user line continues; bit 1, the sampler fields hold the
// state of the sampler that made it (else they are 0).
inline constexpr uint32_t kStateOpenSystemTurn = 1u << 0;
inline constexpr uint32_t kStateHasSampler = 1u << 1;
inline constexpr uint32_t kKnownStateFlags = kStateOpenSystemTurn | kStateHasSampler;

// Header bytes besides the fingerprint: magic, version, flags, F, dtype,
// num_layers, kv_heads, head_dim (u32 each after the magic), T and V (u64).
inline constexpr size_t kFixedHeaderBytes = kMagicBytes + 7 * 4 + 2 * 8;
// After the logits: resume position (i64), state flags (u32), sampler seed
// and draws (u64 each).
inline constexpr size_t kStateBytes = 8 + 4 + 8 + 8;
inline constexpr size_t kV1SamplerLengthBytes = 4;
inline constexpr size_t kChecksumBytes = 8;
// The smallest well-formed sizes, were every variable part empty: shorter is
// truncated. Before the version is read, only the smaller one can be asked.
inline constexpr size_t kMinFileBytes = kFixedHeaderBytes + kStateBytes + kChecksumBytes;
inline constexpr size_t kMinV1FileBytes =
    kFixedHeaderBytes + kV1SamplerLengthBytes + kChecksumBytes;
inline constexpr uint64_t kChecksumSeed = 0;
// Fingerprints are 16 hex digits; a longer one means a damaged file.
inline constexpr uint32_t kMaxFingerprintBytes = 256;

// Version 1's text tags before the sampler's own text.
inline constexpr char kV1OpenTurnTag[] = "open_system_turn=1 ";
inline constexpr char kV1ResumeTag[] = "resume_position=";

// int8: round(x / scale) clamped to +-kInt8Max, scale = max |x| / kInt8Max.
inline constexpr int kInt8Max = 127;

// dtype of K and V as given to write_snapshot (for int8: before quantizing).
enum DtypeCode : uint32_t { kF32 = 0, kBF16 = 1, kF16 = 2 };

}  // namespace pcache::snapshot_format
