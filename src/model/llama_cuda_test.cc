// The model on a GPU: skipped (reported as such) where libtorch sees no CUDA
// device, run by ctest on the GPU machine.
#include <boost/test/unit_test.hpp>

#include "model/llama.h"
#include "model/model_testing.h"
#include "model/reference_check.h"

namespace pcache {
namespace {

using testing::CudaPresent;

std::unique_ptr<LlamaModel> load_cuda(const std::string& name, at::ScalarType dtype,
                                      WeightFormat weights = WeightFormat::kModelDtype) {
  auto ck = Checkpoint::open(testing::fixture(name));
  BOOST_REQUIRE_MESSAGE(ck.ok(), ck.status().to_string());
  auto model = LlamaModel::load(**ck, dtype, at::Device(at::kCUDA), weights);
  BOOST_REQUIRE_MESSAGE(model.ok(), model.status().to_string());
  return std::move(model).value();
}

// Share of positions, over all cases, whose top-1 matches; worst abs error.
std::pair<double, double> run_reference(const LlamaModel& model, const std::string& name) {
  auto results = check_reference(model, testing::fixture(name));
  BOOST_REQUIRE_MESSAGE(results.ok(), results.status().to_string());
  double agree = 0, total = 0, worst = 0;
  for (const auto& r : results->cases) {
    BOOST_TEST_MESSAGE(name << " " << r.name << ": max abs error " << r.max_abs_error << ", top-1 "
                            << r.top1_agreement);
    agree += r.top1_agreement * r.tokens;
    total += r.tokens;
    worst = std::max(worst, r.max_abs_error);
  }
  return {agree / total, worst};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(llama_cuda_test, *boost::unit_test::precondition(CudaPresent()))

BOOST_AUTO_TEST_CASE(float32_matches_transformers) {
  for (const std::string& name : testing::staged_models()) {
    auto [top1, worst] = run_reference(*load_cuda(name, at::kFloat), name);
    BOOST_TEST_INFO(name);
    BOOST_TEST(worst <= 1e-3);
    BOOST_TEST(top1 == 1.0);
  }
}

BOOST_AUTO_TEST_CASE(half_precision_agrees_on_top1) {
  for (at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    for (const std::string& name : testing::staged_models()) {
      auto [top1, worst] = run_reference(*load_cuda(name, dtype), name);
      BOOST_TEST_INFO(name << " " << c10::toString(dtype));
      BOOST_TEST(top1 >= 0.95);
      BOOST_TEST(worst < 0.1);
    }
  }
}

BOOST_AUTO_TEST_CASE(int8_weights_agree_on_top1) {
  // The int8 GEMV (the two rows of the suffix case) and the dequantized
  // weights (the prefills), symmetric and with zero points (the offsets'
  // term after the GEMV), against the float32 reference: verify's int8 bar.
  for (WeightFormat weights : {WeightFormat::kInt8, WeightFormat::kInt8ZeroPoint}) {
    for (const std::string& name : testing::staged_models()) {
      auto [top1, worst] = run_reference(*load_cuda(name, at::kBFloat16, weights), name);
      BOOST_TEST_INFO(name << " " << weight_format_name(weights));
      BOOST_TEST(top1 >= 0.9);
      BOOST_TEST(worst < 0.5);
    }
  }
}

BOOST_AUTO_TEST_CASE(decode_steps_equal_prefill_in_bfloat16) {
  auto model = load_cuda("tiny-mistral", at::kBFloat16);
  at::Tensor tokens = (at::arange(16, at::kLong) * 977 % 30000 + 5).unsqueeze(0);
  at::Tensor pos = at::arange(16, at::kLong).unsqueeze(0);
  KVCache full = model->new_cache(), step = model->new_cache();
  auto all = model->forward(tokens, pos, full);
  BOOST_REQUIRE(all.ok());
  BOOST_REQUIRE(model->forward(tokens.narrow(1, 0, 8), pos.narrow(1, 0, 8), step).ok());
  for (int64_t i = 8; i < 16; ++i) {
    auto one = model->forward(tokens.narrow(1, i, 1), pos.narrow(1, i, 1), step);
    BOOST_REQUIRE(one.ok());
    BOOST_TEST(one.value()[0][0].argmax().item<int64_t>() ==
               all.value()[0][i].argmax().item<int64_t>());
    BOOST_TEST((one.value()[0][0] - all.value()[0][i]).abs().max().item<double>() < 0.05);
  }
}

BOOST_AUTO_TEST_CASE(flash_path_equals_masked_path) {
  // No mask takes flash attention on the GPU (cuDNN for 4096 tokens or more
  // from scratch); the explicit causal mask takes the matmul path. All must
  // mean "the cache, then causal".
  at::manual_seed(3);
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  for (auto [t, s] :
       {std::pair<int64_t, int64_t>{5, 20}, {20, 20}, {1, 9}, {33, 300}, {4100, 4100}}) {
    at::Tensor q = at::randn({1, 4, t, 16}, opts);
    at::Tensor k = at::randn({1, 2, s, 16}, opts), v = at::randn({1, 2, s, 16}, opts);
    at::Tensor fast = grouped_attention(q, k, v, at::Tensor(), 0.25);
    at::Tensor masked = grouped_attention(q, k, v, causal_mask(t, s, q.device()), 0.25);
    BOOST_TEST_INFO("T " << t << " S " << s);
    BOOST_TEST((fast.to(at::kFloat) - masked.to(at::kFloat)).abs().max().item<double>() < 0.03);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
