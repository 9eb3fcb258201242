// Weight-only int8 quantization of a projection ([out, in], as a Linear
// holds it), one float32 scale per output row, in two forms:
// - symmetric (`--weights int8`): values round(w / s) in [-127, 127] with
//   s = max |w[row]| / 127;
// - with a zero point (`--weights int8-zp`, the min-max form): the row's
//   range [min, max] in 256 steps, s = (max - min) / 255, values
//   round((w - min) / s) - 128 in [-128, 127], and a float32 offset per row,
//   min + 128 s, so that w = values x s + offset. Rows whose values are not
//   centred on zero get finer steps.
// Decode reads half the bytes of bfloat16 (the GEMV kernel multiplies by the
// scale after its dot product; the offset adds offset x sum(x)); larger
// batches widen the values to the model dtype and scale after the product
// (int8_linear). On the CPU (float32) int8_linear keeps the weight int8:
// dot products for 1 to 4 rows (AVX2 where the CPU has it), tiles of 512
// weight rows widened for more.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "pcache/status.h"

namespace pcache {

// How a model holds its projection weights.
enum class WeightFormat {
  kModelDtype,     // as the model computes (float32, bfloat16, float16)
  kInt8,           // int8 per output row, symmetric
  kInt8ZeroPoint,  // int8 per output row, with a zero point (an offset)
};
// "dtype" (the default), "int8" or "int8-zp"; anything else is
// InvalidArgument naming them.
StatusOr<WeightFormat> parse_weight_format(const std::string& name);
const char* weight_format_name(WeightFormat f);
inline bool is_int8_format(WeightFormat f) { return f != WeightFormat::kModelDtype; }

struct Int8Weight {
  at::Tensor values;  // int8 [out, in]
  at::Tensor scale;   // float32 [out]
  at::Tensor offset;  // float32 [out] with a zero point; undefined when symmetric
};
// w: floating [out, in], on any device; the work is done in float32 there.
// A row of zeros (symmetric) gets scale 1; a row of one value (zero point)
// gets scale 1, values 0 and the value as its offset (exact).
// `format` is kInt8 or kInt8ZeroPoint.
Int8Weight quantize_rows_int8(const at::Tensor& w, WeightFormat format = WeightFormat::kInt8);
// values x scale (+ offset), as `dtype` [out, in].
at::Tensor dequantize_rows_int8(const Int8Weight& q, at::ScalarType dtype);
// What the offsets add to x [..., in] times the weight: sum(x) x offset,
// [..., out] in float32.
at::Tensor zero_point_term(const at::Tensor& x, const at::Tensor& offset);
// x [..., in] through the int8 weight [out, in] (and `bias` [out], may be
// undefined), for more rows than the GEMV takes: x . (values x scale +
// offset)^T = (x . values^T) x scale + zero_point_term, so the weight is only
// widened to x's dtype (exact for int8), never made float32. float16 could
// overflow x . values^T (|values| up to 128) and dequantizes first. Returns
// [..., out] in x's dtype.
at::Tensor int8_linear(const at::Tensor& x, const Int8Weight& q, const at::Tensor& bias);

}  // namespace pcache
