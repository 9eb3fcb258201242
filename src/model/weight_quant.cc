#include "model/weight_quant.h"

namespace pcache {

StatusOr<WeightFormat> parse_weight_format(const std::string& name) {
  if (name == "dtype") return WeightFormat::kModelDtype;
  if (name == "int8") return WeightFormat::kInt8;
  if (name == "int8-zp") return WeightFormat::kInt8ZeroPoint;
  return Status::invalid_argument("weights \"" + name + "\" (expected dtype, int8 or int8-zp)");
}

const char* weight_format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::kInt8: return "int8";
    case WeightFormat::kInt8ZeroPoint: return "int8-zp";
    case WeightFormat::kModelDtype: break;
  }
  return "dtype";
}

Int8Weight quantize_rows_int8(const at::Tensor& w, WeightFormat format) {
  TORCH_CHECK(w.dim() == 2 && w.is_floating_point() && is_int8_format(format), "quantize_rows_int8: w ",
              w.sizes(), " ", w.scalar_type(), " as ", weight_format_name(format));
  const at::Tensor wf = w.to(at::kFloat);
  if (format == WeightFormat::kInt8) {
    at::Tensor scale = wf.abs().amax(1) / 127.0;                // [out]
    scale = at::where(scale > 0, scale, at::ones_like(scale));  // an all-zero row
    at::Tensor values = (wf / scale.unsqueeze(1)).round_().clamp_(-127, 127).to(at::kChar);
    return {values.contiguous(), scale.contiguous(), at::Tensor()};
  }
  const at::Tensor low = wf.amin(1);               // [out]
  const at::Tensor spread = (wf.amax(1) - low) / 255.0;  // [out]
  const at::Tensor constant = spread <= 0;         // rows of one value: values 0, offset the value
  const at::Tensor scale = at::where(constant, at::ones_like(spread), spread);
  at::Tensor steps = ((wf - low.unsqueeze(1)) / scale.unsqueeze(1)).round_().clamp_(0, 255);
  steps.masked_fill_(constant.unsqueeze(1), 128);
  at::Tensor values = (steps - 128).to(at::kChar);
  at::Tensor offset = at::where(constant, low, low + 128.0 * scale);
  return {values.contiguous(), scale.contiguous(), offset.contiguous()};
}

at::Tensor dequantize_rows_int8(const Int8Weight& q, at::ScalarType dtype) {
  at::Tensor w = q.values.to(at::kFloat) * q.scale.unsqueeze(1);
  if (q.offset.defined()) w += q.offset.unsqueeze(1);
  return w.to(dtype);
}

at::Tensor zero_point_term(const at::Tensor& x, const at::Tensor& offset) {
  return x.to(at::kFloat).sum(-1, /*keepdim=*/true) * offset;
}

at::Tensor int8_linear(const at::Tensor& x, const Int8Weight& q, const at::Tensor& bias) {
  if (x.scalar_type() == at::kHalf) return at::linear(x, dequantize_rows_int8(q, at::kHalf), bias);
  at::Tensor y = at::linear(x, q.values.to(x.scalar_type())).to(at::kFloat) * q.scale;  // [..., out]
  if (q.offset.defined()) y += zero_point_term(x, q.offset);
  if (bias.defined()) y += bias.to(at::kFloat);
  return y.to(x.scalar_type());
}

}  // namespace pcache
