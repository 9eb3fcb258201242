#include "model/weight_quant.h"

#include <boost/test/unit_test.hpp>

namespace pcache {

BOOST_AUTO_TEST_SUITE(weight_quant_test)

BOOST_AUTO_TEST_CASE(rows_round_trip_within_half_a_step) {
  at::manual_seed(3);
  at::Tensor w = at::randn({7, 40}) * at::arange(1, 8, at::kFloat).unsqueeze(1);  // rows of other ranges
  w[4].zero_();
  Int8Weight q = quantize_rows_int8(w);
  BOOST_TEST(q.values.scalar_type() == at::kChar);
  BOOST_TEST(q.values.sizes() == w.sizes());
  BOOST_TEST(q.scale.sizes() == at::IntArrayRef({7}));
  BOOST_TEST(q.scale[4].item<float>() == 1.f);  // a zero row
  // Every row uses the full range: its largest value maps to +-127.
  BOOST_TEST(q.values.abs().amax(1)[0].item<int>() == 127);
  const at::Tensor back = dequantize_rows_int8(q, at::kFloat);
  const at::Tensor step = q.scale.unsqueeze(1).expand_as(w);
  BOOST_TEST(((back - w).abs() <= step / 2 + 1e-6).all().item<bool>());
  BOOST_TEST(back[4].abs().max().item<float>() == 0.f);
}

BOOST_AUTO_TEST_CASE(zero_point_rows_round_trip_within_half_a_step) {
  at::manual_seed(4);
  // Rows off centre (all positive, all negative), a constant row, a zero row.
  at::Tensor w = at::randn({6, 48});
  w[0] = w[0].abs() + 2;
  w[1] = -w[1].abs() * 3;
  w[2].fill_(1e-6f);  // not exact after adding 128: kept exact as the offset
  w[3].zero_();
  Int8Weight z = quantize_rows_int8(w, WeightFormat::kInt8ZeroPoint);
  Int8Weight s = quantize_rows_int8(w, WeightFormat::kInt8);
  BOOST_TEST(z.values.scalar_type() == at::kChar);
  BOOST_TEST(z.offset.sizes() == at::IntArrayRef({6}));
  BOOST_TEST(!s.offset.defined());
  // Each row spans the whole range: its min maps to -128, its max to 127.
  BOOST_TEST(z.values[0].min().item<int>() == -128);
  BOOST_TEST(z.values[0].max().item<int>() == 127);
  BOOST_TEST(z.scale[2].item<float>() == 1.f);
  const at::Tensor back = dequantize_rows_int8(z, at::kFloat);
  BOOST_TEST(((back - w).abs() <= z.scale.unsqueeze(1) / 2 + 1e-5).all().item<bool>());
  BOOST_TEST(at::equal(back[2], w[2]));
  BOOST_TEST(z.values[2].abs().max().item<int>() == 0);
  BOOST_TEST(back[3].abs().max().item<float>() < 1e-6);
  // An off-centre row gets steps half as large as the symmetric form's, or less.
  BOOST_TEST(z.scale[0].item<float>() <= s.scale[0].item<float>() / 2);
  BOOST_TEST(z.scale[1].item<float>() <= s.scale[1].item<float>() / 2);
}

BOOST_AUTO_TEST_CASE(the_zero_point_term_is_what_the_offsets_add) {
  // x W^T with W = values x scale + offset, split as the GEMV path computes it.
  at::manual_seed(5);
  Int8Weight z = quantize_rows_int8(at::randn({10, 32}) + 0.5, WeightFormat::kInt8ZeroPoint);
  const at::Tensor x = at::randn({3, 32});
  const at::Tensor whole = at::linear(x, dequantize_rows_int8(z, at::kFloat));
  const at::Tensor without = at::linear(x, dequantize_rows_int8({z.values, z.scale, at::Tensor()}, at::kFloat));
  const at::Tensor split = without + zero_point_term(x, z.offset);
  BOOST_TEST(split.sizes() == whole.sizes());
  BOOST_TEST(at::allclose(split, whole, 1e-4, 1e-4));
  BOOST_TEST(zero_point_term(x.to(at::kBFloat16), z.offset).scalar_type() == at::kFloat);
}

BOOST_AUTO_TEST_CASE(int8_linear_is_the_dequantized_weights_linear) {
  // Both forms, with a bias, over two leading dims: float32 to rounding,
  // bfloat16 within its own rounding of the result.
  at::manual_seed(6);
  const at::Tensor w = at::randn({12, 64}) + 0.3, bias = at::randn({12}), x = at::randn({2, 5, 64});
  for (WeightFormat f : {WeightFormat::kInt8, WeightFormat::kInt8ZeroPoint}) {
    BOOST_TEST_CONTEXT(weight_format_name(f)) {
      const Int8Weight q = quantize_rows_int8(w, f);
      const at::Tensor want = at::linear(x, dequantize_rows_int8(q, at::kFloat), bias);  // [2, 5, 12]
      const at::Tensor got = int8_linear(x, q, bias);
      BOOST_TEST(got.sizes() == want.sizes());
      BOOST_TEST(at::allclose(got, want, 1e-5, 1e-4));
      const at::Tensor got_bf16 = int8_linear(x.to(at::kBFloat16), q, bias.to(at::kBFloat16));
      BOOST_TEST(got_bf16.scalar_type() == at::kBFloat16);
      BOOST_TEST(at::allclose(got_bf16.to(at::kFloat), want, 3e-2, 5e-2));
      BOOST_TEST(at::allclose(int8_linear(x, q, at::Tensor()) + bias, want, 1e-5, 1e-4));
    }
  }
}

BOOST_AUTO_TEST_CASE(int8_linear_on_the_cpu_keeps_the_weight_int8) {
  // The CPU's own product (float32 x): dot products for 1 to 4 rows, tiles
  // of 512 weight rows widened for more; k = 200 leaves a tail past the
  // vector steps, n = 600 a partial second tile.
  at::manual_seed(7);
  const at::Tensor w = at::randn({600, 200}), bias = at::randn({600});
  const Int8Weight q = quantize_rows_int8(w);
  const at::Tensor dequantized = dequantize_rows_int8(q, at::kFloat);
  for (int64_t rows : {1, 3, 4, 5, 130}) {
    BOOST_TEST_CONTEXT("rows " << rows) {
      const at::Tensor x = at::randn({rows, 200});
      const at::Tensor want = at::linear(x, dequantized, bias);
      const at::Tensor got = int8_linear(x, q, bias);
      BOOST_TEST(got.sizes() == want.sizes());
      BOOST_TEST(at::allclose(got, want, 1e-5, 1e-4));
    }
  }
  // A non-contiguous x (a column slice) is taken too.
  const at::Tensor wide = at::randn({2, 400});
  const at::Tensor x = wide.narrow(1, 100, 200);
  BOOST_TEST(at::allclose(int8_linear(x, q, bias), at::linear(x, dequantized, bias), 1e-5, 1e-4));
}

BOOST_AUTO_TEST_CASE(formats_by_name) {
  BOOST_TEST((*parse_weight_format("int8-zp") == WeightFormat::kInt8ZeroPoint));
  BOOST_TEST(std::string(weight_format_name(WeightFormat::kInt8ZeroPoint)) == "int8-zp");
  BOOST_TEST((*parse_weight_format("int8") == WeightFormat::kInt8));
  BOOST_TEST((*parse_weight_format("dtype") == WeightFormat::kModelDtype));
  auto bad = parse_weight_format("int4");
  BOOST_TEST(bad.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(bad.status().message().find("int4") != std::string::npos);
  BOOST_TEST(bad.status().message().find("dtype, int8 or int8-zp") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
