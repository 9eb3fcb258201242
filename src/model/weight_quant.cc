#include "model/weight_quant.h"

namespace pcache {

StatusOr<WeightFormat> parse_weight_format(const std::string& name) {
  if (name == "dtype") return WeightFormat::kModelDtype;
  if (name == "int8") return WeightFormat::kInt8;
  return Status::invalid_argument("weights \"" + name + "\" (expected dtype or int8)");
}

const char* weight_format_name(WeightFormat f) {
  return f == WeightFormat::kInt8 ? "int8" : "dtype";
}

Int8Weight quantize_rows_int8(const at::Tensor& w) {
  TORCH_CHECK(w.dim() == 2 && w.is_floating_point(), "quantize_rows_int8: w ", w.sizes(), " ",
              w.scalar_type());
  const at::Tensor wf = w.to(at::kFloat);
  at::Tensor scale = wf.abs().amax(1) / 127.0;             // [out]
  scale = at::where(scale > 0, scale, at::ones_like(scale));  // an all-zero row
  at::Tensor values = (wf / scale.unsqueeze(1)).round_().clamp_(-127, 127).to(at::kChar);
  return {values.contiguous(), scale.contiguous()};
}

at::Tensor dequantize_rows_int8(const Int8Weight& q, at::ScalarType dtype) {
  return (q.values.to(at::kFloat) * q.scale.unsqueeze(1)).to(dtype);
}

}  // namespace pcache
