// Per-channel int8 quantization of K/V (CacheGen-style), used by snapshot
// files and by the module store's host and disk tiers (docs/formats.md).
#pragma once

#include <ATen/ATen.h>

namespace pcache {

// int8: round(x / scale) clamped to +-kInt8QuantMax, scale = max |x| / kInt8QuantMax.
inline constexpr int kInt8QuantMax = 127;

// Per-channel int8 quantization of x: [H, T, D], channels (h, d), scale over T.
struct QuantizedTensor {
  at::Tensor values;  // int8 [H, T, D]
  at::Tensor scales;  // float32 [H, 1, D]
};
// x must be a floating tensor [H, T, D]; the work is done in float32, on x's device.
// An all-zero channel gets scale 1; an inf or NaN makes its channel's scale inf or NaN.
QuantizedTensor quantize_int8(const at::Tensor& x);
// values x scales in `dtype`, on q's device.
at::Tensor dequantize_int8(const QuantizedTensor& q, at::ScalarType dtype);
// The same, computing in float32 in `scratch`, kept for the next call: a fresh
// buffer per tensor costs more in page faults than the arithmetic.
at::Tensor dequantize_int8(const QuantizedTensor& q, at::ScalarType dtype, at::Tensor& scratch);

}  // namespace pcache
