#include "cache/int8_quant.h"

namespace pcache {

QuantizedTensor quantize_int8(const at::Tensor& x) {
  if (x.size(1) == 0) {  // no values: nothing to take a maximum over
    return {at::empty(x.sizes(), x.options().dtype(at::kChar)),
            at::ones({x.size(0), 1, x.size(2)}, x.options().dtype(at::kFloat))};
  }
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor scales = xf.abs().amax(/*dim=*/{1}, /*keepdim=*/true) / kInt8QuantMax;
  // An all-zero channel (or one so small that its scale underflows) gets scale 1: values 0.
  scales.masked_fill_(scales == 0, 1.0);
  at::Tensor values = at::round(xf / scales).clamp_(-kInt8QuantMax, kInt8QuantMax).to(at::kChar);
  return {values, scales};
}

// Cast, then multiply in place: ATen vectorizes these, not int8 x float32 mixed.
at::Tensor dequantize_int8(const QuantizedTensor& q, at::ScalarType dtype, at::Tensor& scratch) {
  if (dtype == at::kFloat) return q.values.to(at::kFloat).mul_(q.scales);
  if (!scratch.defined() || scratch.sizes() != q.values.sizes() ||
      scratch.device() != q.values.device()) {
    scratch = at::empty(q.values.sizes(), q.values.options().dtype(at::kFloat));
  }
  return scratch.copy_(q.values).mul_(q.scales).to(dtype);
}

at::Tensor dequantize_int8(const QuantizedTensor& q, at::ScalarType dtype) {
  at::Tensor scratch;
  return dequantize_int8(q, dtype, scratch);
}

}  // namespace pcache
