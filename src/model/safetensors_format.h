// Constants of the safetensors format (Hugging Face), as pcache reads it.
// Layout: u64 little-endian N | N bytes of UTF-8 JSON header | data.
// The header maps tensor name -> {"dtype", "shape", "data_offsets": [begin, end]}
// with offsets relative to the start of data; "__metadata__" holds strings.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pcache::safetensors_format {

inline constexpr size_t kHeaderSizeBytes = 8;
// Real headers are kilobytes; anything beyond this is a damaged or hostile file.
inline constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
inline constexpr const char* kMetadataKey = "__metadata__";

}  // namespace pcache::safetensors_format
