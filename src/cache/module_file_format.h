// Constants of the module cache file (docs/formats.md, "Module cache files"):
// one file per ModuleStore entry, little-endian:
//   magic "PCMODKV1" | u32 version | u32 header_bytes | u32 key length | key |
//   u32 dtype | u32 num_layers | u32 kv_heads | u32 head_dim | u64 T |
//   T x i32 tokens | T x i64 positions | per layer K then V, [Hkv, T, D] |
//   u64 XXH64 (seed 0) of every byte after the magic up to the checksum.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pcache::module_file_format {

inline constexpr char kMagic[8] = {'P', 'C', 'M', 'O', 'D', 'K', 'V', '1'};
inline constexpr size_t kMagicBytes = sizeof(kMagic);
inline constexpr uint32_t kVersion = 1;
// Header bytes besides the key: magic, version, header_bytes, key length,
// dtype, num_layers, kv_heads, head_dim (u32 each after the magic) and T (u64).
inline constexpr size_t kFixedHeaderBytes = kMagicBytes + 7 * 4 + 8;
inline constexpr size_t kChecksumBytes = 8;
inline constexpr uint64_t kChecksumSeed = 0;
// Keys are a few hundred bytes; a longer one means a damaged file.
inline constexpr uint32_t kMaxKeyBytes = 1u << 16;
// File names: 16 lowercase hex digits of XXH64(key string, seed 0), then this.
inline constexpr const char* kExtension = ".pcm";

enum DtypeCode : uint32_t { kF32 = 0, kBF16 = 1, kF16 = 2 };

}  // namespace pcache::module_file_format
