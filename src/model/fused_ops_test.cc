// The fused CUDA kernels against the libtorch chains they replace: equal
// results, in bfloat16 and float16, and no K/V written for negative slots.
// Skipped, and reported so, without a CUDA device or a build of the kernels.
#include <boost/test/unit_test.hpp>

#include "model/fused_ops.h"
#include "model/weight_quant.h"

namespace pcache {
namespace {

struct KernelsPresent {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) {
    boost::test_tools::assertion_result ok =
        at::hasCUDA() && fused_ops_available(at::Device(at::kCUDA), at::kBFloat16);
    if (!ok) ok.message() << "no CUDA device or no build of the fused kernels";
    return ok;
  }
};

float max_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<float>();
}

at::Tensor rotate_half(const at::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return at::cat({-halves[1], halves[0]}, -1);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fused_ops_test, *boost::unit_test::precondition(KernelsPresent()))

BOOST_AUTO_TEST_CASE(rope_and_store_equals_the_libtorch_chain) {
  for (at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    const int64_t n = 7, h = 8, h_kv = 2, d = 64, rows = 40;
    auto opts = at::TensorOptions().dtype(dtype).device(at::kCUDA);
    at::manual_seed(3);
    // A row stride wider than the row, as a slice of a larger projection.
    at::Tensor qkv = at::randn({n, (h + 2 * h_kv) * d + 8}, opts).narrow(1, 0, (h + 2 * h_kv) * d);
    at::Tensor angles = at::rand({n, d / 2}, opts.dtype(at::kFloat)) * 100;
    at::Tensor full = at::cat({angles, angles}, -1);
    at::Tensor cos = full.cos().to(dtype), sin = full.sin().to(dtype);
    at::Tensor slots = at::tensor(std::vector<int64_t>{5, 0, 39, -1, 17, 18, -1},
                                  at::TensorOptions().dtype(at::kLong).device(at::kCUDA));
    at::Tensor k_pool = at::randn({rows, h_kv, d}, opts), v_pool = at::randn({rows, h_kv, d}, opts);
    at::Tensor k_before = k_pool.clone(), v_before = v_pool.clone();

    at::Tensor q = rope_and_store(qkv, cos, sin, slots, k_pool, v_pool, h);

    // The model's chain: addcmul(x * cos, rotate_half(x), sin) on q and k.
    at::Tensor qk = qkv.narrow(1, 0, (h + h_kv) * d).reshape({n, h + h_kv, d});
    at::Tensor c = cos.unsqueeze(1), s = sin.unsqueeze(1);
    at::Tensor rotated = at::addcmul(qk * c, rotate_half(qk), s);  // [n, H + Hkv, D]
    at::Tensor v = qkv.narrow(1, (h + h_kv) * d, h_kv * d).reshape({n, h_kv, d});
    BOOST_TEST(q.sizes() == at::IntArrayRef({n, h, d}));
    BOOST_TEST(max_diff(q, rotated.narrow(1, 0, h)) == 0.f);
    std::vector<int64_t> host_slots = {5, 0, 39, -1, 17, 18, -1};
    at::Tensor k_want = k_before.clone(), v_want = v_before.clone();
    for (int64_t t = 0; t < n; ++t) {
      if (host_slots[t] < 0) continue;
      k_want[host_slots[t]].copy_(rotated[t].narrow(0, h, h_kv));
      v_want[host_slots[t]].copy_(v[t]);
    }
    BOOST_TEST(max_diff(k_pool, k_want) == 0.f);  // rows of negative slots untouched too
    BOOST_TEST(max_diff(v_pool, v_want) == 0.f);
  }
}

BOOST_AUTO_TEST_CASE(silu_mul_equals_silu_then_multiply) {
  for (at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    at::manual_seed(4);
    at::Tensor gate_up = at::randn({1, 5, 2 * 96}, at::TensorOptions().dtype(dtype).device(at::kCUDA)) * 4;
    auto halves = gate_up.chunk(2, -1);
    at::Tensor want = at::silu(halves[0]) * halves[1];
    at::Tensor got = silu_mul(gate_up);
    BOOST_TEST(got.sizes() == want.sizes());
    // expf on the device may differ from libtorch's in the last float bit,
    // which rounding to 16 bits almost always hides.
    BOOST_TEST(max_diff(got, want) <= 1e-2f * want.abs().max().item<float>());
  }
}

BOOST_AUTO_TEST_CASE(gemv_equals_linear_in_float32) {
  for (at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    auto opts = at::TensorOptions().dtype(dtype).device(at::kCUDA);
    at::manual_seed(5);
    // An odd number of outputs (the last warp's second row missing) and an
    // input size that is not a multiple of a warp's 256-element stride.
    const int64_t n = 37, k = 264;
    at::Tensor w = at::randn({n, k}, opts), bias = at::randn({n}, opts);
    for (int64_t rows = 1; rows <= 4; ++rows) {
      at::Tensor x = at::randn({1, rows, k}, opts);
      BOOST_TEST_INFO("rows " << rows);
      BOOST_REQUIRE(gemv_applies(x, w));
      at::Tensor want = at::linear(x.to(at::kFloat), w.to(at::kFloat), bias.to(at::kFloat));
      at::Tensor got = gemv(x, w, bias);
      BOOST_TEST(got.sizes() == at::IntArrayRef({1, rows, n}));
      // Both sum in float32; the result is rounded once to 16 bits.
      BOOST_TEST(max_diff(got, want) <= 1e-2f * want.abs().max().item<float>());
      BOOST_TEST(max_diff(gemv(x, w, at::Tensor()), at::linear(x.to(at::kFloat), w.to(at::kFloat))) <=
                 1e-2f * want.abs().max().item<float>());
    }
    BOOST_TEST(!gemv_applies(at::randn({5, k}, opts), w));      // too many rows: cuBLAS
    BOOST_TEST(!gemv_applies(at::randn({1, k + 1}, opts), at::randn({n, k + 1}, opts)));
    BOOST_TEST(!gemv_applies(at::randn({1, k}, opts).to(at::kFloat), w.to(at::kFloat)));
  }
}

BOOST_AUTO_TEST_CASE(gemv_of_int8_weights_equals_linear_of_their_dequantization) {
  for (at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    auto opts = at::TensorOptions().dtype(dtype).device(at::kCUDA);
    at::manual_seed(7);
    // 16 int8 values per 16-byte load: k = 272 is 17 of them (not a
    // multiple of a warp's 512-value stride); an odd number of rows.
    const int64_t n = 37, k = 272;
    Int8Weight q = quantize_rows_int8(at::randn({n, k}, opts.dtype(at::kFloat)));
    at::Tensor bias = at::randn({n}, opts);
    const at::Tensor dequantized = dequantize_rows_int8(q, at::kFloat);
    for (int64_t rows = 1; rows <= 4; ++rows) {
      at::Tensor x = at::randn({1, rows, k}, opts);
      BOOST_TEST_INFO("rows " << rows);
      BOOST_REQUIRE(gemv_applies(x, q.values));
      at::Tensor want = at::linear(x.to(at::kFloat), dequantized, bias.to(at::kFloat));
      at::Tensor got = gemv(x, q.values, bias, q.scale);
      BOOST_TEST(got.sizes() == at::IntArrayRef({1, rows, n}));
      BOOST_TEST(max_diff(got, want) <= 1e-2f * want.abs().max().item<float>());
    }
    BOOST_CHECK_THROW(gemv(at::randn({1, k}, opts), q.values, bias, at::Tensor()), c10::Error);  // no scale
    BOOST_TEST(!gemv_applies(at::randn({1, 264}, opts), at::zeros({n, 264}, opts.dtype(at::kChar))));
  }
}

BOOST_AUTO_TEST_CASE(int8_matmul_equals_linear_of_the_dequantization) {
  for (at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    auto opts = at::TensorOptions().dtype(dtype).device(at::kCUDA);
    at::manual_seed(8);
    // n = 37: fewer outputs than a CTA's 128, k in one split; n = 300: the
    // last CTA partly idle, k = 2048 cut in splits summed by the second kernel.
    for (auto [n, k] : {std::pair<int64_t, int64_t>{37, 384}, {300, 2048}}) {
      Int8Weight q = quantize_rows_int8(at::randn({n, k}, opts.dtype(at::kFloat)));
      at::Tensor bias = at::randn({n}, opts);
      const at::Tensor dequantized = dequantize_rows_int8(q, at::kFloat);
      // Rows in partial 16-row tiles, whole tiles, and over one 64-row pass.
      for (int64_t rows : {5, 16, 17, 48, 64, 65, 100, 128}) {
        BOOST_TEST_INFO("n " << n << ", k " << k << ", rows " << rows);
        at::Tensor x = at::randn({1, rows, k}, opts);
        BOOST_REQUIRE(int8_matmul_applies(x, q.values));
        BOOST_REQUIRE(!gemv_applies(x, q.values));
        at::Tensor want = at::linear(x.to(at::kFloat), dequantized, bias.to(at::kFloat));
        at::Tensor got = int8_matmul(x, q.values, q.scale, bias);
        BOOST_TEST(got.sizes() == at::IntArrayRef({1, rows, n}));
        // Both sum in float32; the result is rounded once to 16 bits.
        BOOST_TEST(max_diff(got, want) <= 1e-2f * want.abs().max().item<float>());
        at::Tensor unbiased = at::linear(x.to(at::kFloat), dequantized);
        BOOST_TEST(max_diff(int8_matmul(x, q.values, q.scale, at::Tensor()), unbiased) <=
                   1e-2f * unbiased.abs().max().item<float>());
        // The same bits on every run (the splits are summed in order).
        BOOST_TEST(at::equal(int8_matmul(x, q.values, q.scale, bias), got));
      }
      BOOST_CHECK_THROW(int8_matmul(at::randn({8, k}, opts), q.values, at::Tensor(), bias), c10::Error);
      BOOST_TEST(!int8_matmul_applies(at::randn({4, k}, opts), q.values));    // the GEMV's
      BOOST_TEST(!int8_matmul_applies(at::randn({129, k}, opts), q.values));  // cuBLAS's
      // x 2 bytes off a 16-byte boundary.
      BOOST_TEST(!int8_matmul_applies(at::randn({8 * k + 1}, opts).narrow(0, 1, 8 * k).view({8, k}),
                                      q.values));
    }
    BOOST_TEST(!int8_matmul_applies(at::randn({8, 272}, opts), at::zeros({37, 272}, opts.dtype(at::kChar))));
    BOOST_TEST(!int8_matmul_applies(at::randn({8, 384}, opts), at::zeros({37, 384}, opts)));  // not int8
  }
}

BOOST_AUTO_TEST_CASE(gemv_silu_mul_equals_silu_mul_of_the_gemv) {
  // The SiLU in the gate/up projection's epilogue: bit for bit the two
  // kernels it replaces, 16-bit and int8 weights, with and without a bias,
  // a number of outputs that leaves the last CTA's warps partly idle.
  for (at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    auto opts = at::TensorOptions().dtype(dtype).device(at::kCUDA);
    at::manual_seed(9);
    const int64_t f = 37, k = 272;
    at::Tensor w = at::randn({2 * f, k}, opts), bias = at::randn({2 * f}, opts);
    Int8Weight q = quantize_rows_int8(w.to(at::kFloat));
    for (int64_t rows = 1; rows <= 4; ++rows) {
      at::Tensor x = at::randn({1, rows, k}, opts) * 2;
      BOOST_TEST_INFO(dtype << ", rows " << rows);
      for (const at::Tensor& b : {bias, at::Tensor()}) {
        at::Tensor got = gemv_silu_mul(x, w, b);
        BOOST_TEST(got.sizes() == at::IntArrayRef({1, rows, f}));
        BOOST_TEST(max_diff(got, silu_mul(gemv(x, w, b))) == 0.f);
        BOOST_TEST(max_diff(gemv_silu_mul(x, q.values, b, q.scale),
                            silu_mul(gemv(x, q.values, b, q.scale))) == 0.f);
      }
    }
    BOOST_CHECK_THROW(gemv_silu_mul(at::randn({1, k}, opts), at::randn({2 * f + 1, k}, opts),
                                    at::Tensor()),
                      c10::Error);  // no gate and up halves
  }
}

BOOST_AUTO_TEST_CASE(add_rms_norm_equals_add_then_the_transformers_norm) {
  for (at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    auto opts = at::TensorOptions().dtype(dtype).device(at::kCUDA);
    at::manual_seed(6);
    // 3 rows of 4096 (a thread loops twice) and 5 of 24 (most threads idle).
    for (int64_t hidden : {4096, 24}) {
      at::Tensor x = at::randn({1, hidden == 24 ? 5 : 3, hidden}, opts) * 3;
      at::Tensor delta = at::randn_like(x), weight = at::randn({hidden}, opts);
      at::Tensor sum_want = x + delta;
      at::Tensor xf = sum_want.to(at::kFloat);
      at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, true) + 1e-5);
      at::Tensor normed_want = weight * normed.to(dtype);
      BOOST_TEST_INFO(dtype << ", hidden " << hidden);
      auto [sum, got] = add_rms_norm(x, delta, weight, 1e-5);
      BOOST_TEST(max_diff(sum, sum_want) == 0.f);  // one rounding of the float sum, as libtorch
      // The mean of squares sums in another order: the last float bit may
      // differ, which rounding to 16 bits almost always hides.
      BOOST_TEST(max_diff(got, normed_want) <= 1e-2f * normed_want.abs().max().item<float>());
      BOOST_TEST((got != normed_want).sum().item<int64_t>() <= x.numel() / 100);
      auto [same, alone] = add_rms_norm(sum_want, at::Tensor(), weight, 1e-5);
      BOOST_TEST(same.is_same(sum_want));
      BOOST_TEST(max_diff(alone, got) == 0.f);
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_shapes_are_errors) {
  auto opts = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA);
  at::Tensor pool = at::zeros({4, 1, 16}, opts);
  at::Tensor slots = at::zeros({2}, at::TensorOptions().dtype(at::kLong).device(at::kCUDA));
  at::Tensor cs = at::zeros({2, 16}, opts);
  BOOST_CHECK_THROW(rope_and_store(at::zeros({2, 5 * 16}, opts), cs, cs, slots, pool, pool, 2),
                    c10::Error);  // 2 + 2 x 1 heads are 64 wide, not 80
  BOOST_CHECK_THROW(silu_mul(at::zeros({2, 7}, opts)), c10::Error);
  BOOST_CHECK_THROW(gemv(at::zeros({9, 16}, opts), at::zeros({4, 16}, opts), at::Tensor()), c10::Error);
  BOOST_CHECK_THROW(add_rms_norm(at::zeros({2, 12}, opts), at::Tensor(), at::zeros({12}, opts), 1e-5),
                    c10::Error);  // 12 is not a multiple of 8
  BOOST_CHECK_THROW(add_rms_norm(at::zeros({2, 16}, opts), at::zeros({3, 16}, opts),
                                 at::zeros({16}, opts), 1e-5),
                    c10::Error);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
