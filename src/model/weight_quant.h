// Weight-only int8 quantization of a projection ([out, in], as a Linear
// holds it): symmetric, one float32 scale per output row, values
// round(w / scale) in [-127, 127] with scale = max |w[row]| / 127. Decode
// reads half the bytes of bfloat16 (the GEMV kernel multiplies by the scale
// after its dot product); larger batches dequantize first.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "pcache/status.h"

namespace pcache {

// How a model holds its projection weights.
enum class WeightFormat {
  kModelDtype,  // as the model computes (float32, bfloat16, float16)
  kInt8,        // int8 per output row
};
// "dtype" (the default) or "int8"; anything else is InvalidArgument naming both.
StatusOr<WeightFormat> parse_weight_format(const std::string& name);
const char* weight_format_name(WeightFormat f);

struct Int8Weight {
  at::Tensor values;  // int8 [out, in]
  at::Tensor scale;   // float32 [out]
};
// w: floating [out, in], on any device; the work is done in float32 there.
// A row of zeros gets scale 1.
Int8Weight quantize_rows_int8(const at::Tensor& w);
// values x scale, as `dtype` [out, in].
at::Tensor dequantize_rows_int8(const Int8Weight& q, at::ScalarType dtype);

}  // namespace pcache
