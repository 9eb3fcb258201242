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

BOOST_AUTO_TEST_CASE(formats_by_name) {
  BOOST_TEST((*parse_weight_format("int8") == WeightFormat::kInt8));
  BOOST_TEST((*parse_weight_format("dtype") == WeightFormat::kModelDtype));
  auto bad = parse_weight_format("int4");
  BOOST_TEST(bad.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(bad.status().message().find("int4") != std::string::npos);
  BOOST_TEST(bad.status().message().find("dtype or int8") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
