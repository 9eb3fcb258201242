// Constants of the module cache file (docs/formats.md, "Module cache files"):
// one file per ModuleStore entry, little-endian:
//   magic "PCMODKV1" | u32 version | u32 header_bytes | u32 key length | key |
//   u32 dtype | u32 num_layers | u32 kv_heads | u32 head_dim | u64 T | u32 flags |
//   T x i32 tokens | T x i64 positions | per layer K then V: [Hkv, T, D] in dtype,
//   or with kFlagInt8 f32 scales [Hkv, 1, D] then int8 values [Hkv, T, D] |
//   u64 XXH64 (seed 0) of every byte after the magic up to the checksum.
// Version 2 added the flags field; version 1 files are not read (a miss).
#pragma once

#include <cstddef>
#include <cstdint>

namespace pcache::module_file_format {

inline constexpr char kMagic[8] = {'P', 'C', 'M', 'O', 'D', 'K', 'V', '1'};
inline constexpr size_t kMagicBytes = sizeof(kMagic);
inline constexpr uint32_t kVersion = 2;
// flags: bit 0, K and V stored as per-channel int8 with float32 scales
// (ModuleStoreOptions::int8_tiers); dtype is then the dtype before quantizing.
inline constexpr uint32_t kFlagInt8 = 1u << 0;
inline constexpr uint32_t kKnownFlags = kFlagInt8;
// Header bytes besides the key: magic, version, header_bytes, key length,
// dtype, num_layers, kv_heads, head_dim (u32 each after the magic), T (u64)
// and flags (u32).
inline constexpr size_t kFixedHeaderBytes = kMagicBytes + 7 * 4 + 8 + 4;
inline constexpr size_t kChecksumBytes = 8;
inline constexpr uint64_t kChecksumSeed = 0;
// Keys are a few hundred bytes; a longer one means a damaged file.
inline constexpr uint32_t kMaxKeyBytes = 1u << 16;
// At most as many layers as any model pcache loads has (model_config.h's
// kMaxLayers): with T = 0 the size check does not bound the count, and a
// damaged field would have the reader make millions of empty tensors.
inline constexpr uint32_t kMaxLayers = 1024;
// File names: 16 lowercase hex digits of XXH64(key string, seed 0), then this.
inline constexpr const char* kExtension = ".pcm";

enum DtypeCode : uint32_t { kF32 = 0, kBF16 = 1, kF16 = 2 };

}  // namespace pcache::module_file_format
