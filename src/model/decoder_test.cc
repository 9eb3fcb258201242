// Decoder: its steps equal a plain forward, on the CPU (eager steps, and the
// device-offset step a CUDA graph replays) and on a GPU (graph replays).
#include "model/decoder.h"

#include <boost/test/unit_test.hpp>

#include "model/model_testing.h"

namespace pcache {
namespace {

using testing::CudaPresent;

std::unique_ptr<LlamaModel> load(const std::string& name, at::ScalarType dtype, at::Device device) {
  return testing::load_fixture_model(name, dtype, device);
}

at::Tensor some_tokens(int64_t n) {
  return (at::remainder(at::arange(n, at::kLong) * 7919 + 11, 32000) + 3).unsqueeze(0);  // [1, n]
}

// Prefills `prompt` tokens into `cache`; positions start at 0.
void prefill(const LlamaModel& m, const at::Tensor& tokens, int64_t prompt, KVCache& cache) {
  auto out =
      m.forward(tokens.narrow(1, 0, prompt), at::arange(prompt, at::kLong).unsqueeze(0), cache);
  BOOST_REQUIRE_MESSAGE(out.ok(), out.status().to_string());
}

// Steps `decoder` through tokens [prompt, n) and compares each step's logits
// with a plain one-token forward on a twin cache.
void compare_steps(const LlamaModel& m, Decoder& decoder, KVCache& twin, const at::Tensor& tokens,
                   int64_t prompt, double tolerance) {
  for (int64_t i = prompt; i < tokens.size(1); ++i) {
    const int64_t token = tokens[0][i].item<int64_t>();
    auto got = decoder.step(token, i);
    BOOST_REQUIRE_MESSAGE(got.ok(), got.status().to_string());
    auto want = m.forward(at::full({1, 1}, token, at::kLong), at::full({1, 1}, i, at::kLong), twin);
    BOOST_REQUIRE(want.ok());
    at::Tensor w = want.value()[0][0];
    BOOST_TEST_INFO("step " << i);
    BOOST_TEST((got.value() - w).abs().max().item<double>() <= tolerance);
    // The chosen token is (within rounding) a best one: tiny random models'
    // logits are nearly flat, so in bfloat16 near-ties may swap.
    const int64_t chosen = got.value().argmax().item<int64_t>();
    BOOST_TEST(w[chosen].item<double>() >= w.max().item<double>() - tolerance);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(decoder_test)

BOOST_AUTO_TEST_CASE(cpu_steps_equal_forward_and_stop_at_the_reserve) {
  auto m = load("tiny-mistral", at::kFloat, at::kCPU);
  at::Tensor tokens = some_tokens(12);
  KVCache cache = m->new_cache(), twin = m->new_cache();
  prefill(*m, tokens, 6, cache);
  prefill(*m, tokens, 6, twin);
  Decoder decoder(*m, cache, 6);
  BOOST_TEST(!decoder.graphed());
  compare_steps(*m, decoder, twin, tokens, 6, 1e-5);
  BOOST_TEST(cache.length() == 12);
  auto over = decoder.step(5, 12);
  BOOST_TEST(over.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(cache.length() == 12);
}

BOOST_AUTO_TEST_CASE(slot_steps_over_the_whole_capacity_equal_appends) {
  // The step a CUDA graph replays, run eagerly on the CPU: K/V written at a
  // slot held in a tensor, attention over the capacity through a mask.
  for (const char* name : {"tiny-mistral", "tiny-llama"}) {
    auto m = load(name, at::kFloat, at::kCPU);
    at::Tensor tokens = some_tokens(10);
    KVCache cache = m->new_cache(), twin = m->new_cache();
    prefill(*m, tokens, 5, cache);
    prefill(*m, tokens, 5, twin);
    cache.reserve(100);
    cache.zero_unused();  // as Decoder does
    at::Tensor mask = (at::arange(cache.capacity(), at::kLong) < cache.length()).view({1, 1, -1});
    for (int64_t i = 5; i < 10; ++i) {
      at::Tensor slot = at::full({1}, cache.length(), at::kLong);
      mask.index_fill_(2, slot, true);
      at::Tensor got = m->forward_at_slots(tokens.narrow(1, i, 1), at::full({1, 1}, i, at::kLong),
                                           slot, mask, cache);
      cache.advance(1);
      auto want = m->forward(tokens.narrow(1, i, 1), at::full({1, 1}, i, at::kLong), twin);
      BOOST_REQUIRE(want.ok());
      BOOST_TEST_INFO(name << " step " << i);
      BOOST_TEST((got[0][0] - want.value()[0][0]).abs().max().item<double>() <= 1e-5);
    }
    BOOST_TEST(cache.positions().equal(twin.positions()));
    BOOST_TEST(at::allclose(cache.keys(1), twin.keys(1), 1e-5, 1e-6));
  }
}

BOOST_AUTO_TEST_CASE(graphed_steps_equal_eager_steps_on_gpu,
                     *boost::unit_test::precondition(CudaPresent())) {
  for (const char* name : {"tiny-mistral", "tiny-llama"}) {
    auto m = load(name, at::kBFloat16, at::Device(at::kCUDA));
    at::Tensor tokens = some_tokens(40);
    KVCache cache = m->new_cache(), twin = m->new_cache();
    prefill(*m, tokens, 9, cache);
    prefill(*m, tokens, 9, twin);
    Decoder decoder(*m, cache, 31);
    BOOST_TEST_INFO(name);
    BOOST_TEST(decoder.graphed());
    compare_steps(*m, decoder, twin, tokens, 9, 0.05);
    BOOST_TEST(cache.length() == 40);
    BOOST_TEST(cache.positions().equal(twin.positions()));
  }
}

BOOST_AUTO_TEST_CASE(flash_path_equals_masked_path_on_gpu,
                     *boost::unit_test::precondition(CudaPresent())) {
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
