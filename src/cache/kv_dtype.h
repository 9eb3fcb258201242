// The dtype codes of K/V shared by the module cache files and the snapshot
// files (docs/formats.md): 0 float32, 1 bfloat16, 2 float16.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace pcache {

enum KvDtypeCode : uint32_t { kKvF32 = 0, kKvBF16 = 1, kKvF16 = 2 };

// The code of `type`; false for a dtype K/V cannot be stored in.
inline bool kv_dtype_code(at::ScalarType type, uint32_t* code) {
  switch (type) {
    case at::kFloat: *code = kKvF32; return true;
    case at::kBFloat16: *code = kKvBF16; return true;
    case at::kHalf: *code = kKvF16; return true;
    default: return false;
  }
}

// The dtype of `code`; false for an unknown code.
inline bool kv_dtype_of(uint32_t code, at::ScalarType* type) {
  switch (code) {
    case kKvF32: *type = at::kFloat; return true;
    case kKvBF16: *type = at::kBFloat16; return true;
    case kKvF16: *type = at::kHalf; return true;
    default: return false;
  }
}

}  // namespace pcache
