// The dtype codes of K/V shared by the module cache files and the snapshot
// files (docs/formats.md): 0 float32, 1 bfloat16, 2 float16.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

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

inline std::string kv_shape_of(const at::Tensor& x) {
  return x.defined() ? c10::str(x.sizes(), " ", x.scalar_type()) : "undefined";
}

// What is wrong with per-layer K and V, or "" when they are L >= 1 pairs of
// [Hkv, t, D] tensors (Hkv, D > 0) of one storable dtype on one device. Both
// file formats store exactly that.
inline std::string kv_layers_problem(const std::vector<at::Tensor>& k, const std::vector<at::Tensor>& v,
                                     int64_t t) {
  if (k.empty() || k.size() != v.size()) {
    return std::to_string(k.size()) + " K and " + std::to_string(v.size()) +
           " V layers (equal and not zero expected)";
  }
  const at::Tensor& first = k[0];
  uint32_t code;
  if (!first.defined() || first.dim() != 3 || !kv_dtype_code(first.scalar_type(), &code) ||
      first.size(0) == 0 || first.size(2) == 0) {
    return "k[0] is " + kv_shape_of(first) +
           ", expected a float32, bfloat16 or float16 tensor [Hkv, T, D] with Hkv, D > 0";
  }
  for (size_t l = 0; l < k.size(); ++l) {
    for (const auto* side : {&k, &v}) {
      const at::Tensor& x = (*side)[l];
      const std::string name = (side == &k ? "k[" : "v[") + std::to_string(l) + "]";
      if (!x.defined() || x.dim() != 3 || x.size(0) != first.size(0) || x.size(1) != t ||
          x.size(2) != first.size(2) || x.scalar_type() != first.scalar_type()) {
        return name + " is " + kv_shape_of(x) + ", expected [" + std::to_string(first.size(0)) + ", " +
               std::to_string(t) + ", " + std::to_string(first.size(2)) + "] " +
               c10::str(first.scalar_type()) + " (T = number of tokens, dtype of k[0])";
      }
      if (x.device() != first.device()) {
        return name + " is on " + x.device().str() + ", k[0] on " + first.device().str();
      }
    }
  }
  return "";
}

}  // namespace pcache
