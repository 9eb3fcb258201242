#include "runtime/sampler.h"

#include <boost/test/unit_test.hpp>

#include "testing.h"

namespace pcache {
namespace {

using testing::sampling;

std::vector<int> draws(const SamplingOptions& o, const at::Tensor& logits, int n) {
  Sampler s(o);
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(s.sample(logits));
  return out;
}

// The walk sample_rows stands for, on the host: the top-k softmax (top_p
// applied), then the first token whose running sum (float64) passes
// uniform x the total.
int64_t host_walk(const at::Tensor& logits, const SamplingOptions& o, double uniform) {
  const int64_t vocab = logits.size(0);
  const int64_t k = o.top_k > 0 && o.top_k < vocab ? o.top_k : vocab;
  auto [values, ids] = (logits / o.temperature).topk(k);
  at::Tensor probs = at::softmax(values, 0);
  if (o.top_p < 1.f) probs = probs * (probs.cumsum(0) - probs).lt(o.top_p).to(at::kFloat);
  const float* p = probs.data_ptr<float>();
  double total = 0;
  for (int64_t i = 0; i < k; ++i) total += p[i];
  const double u = uniform * total;
  int64_t chosen = 0;
  for (double acc = 0; chosen < k - 1; ++chosen) {
    acc += p[chosen];
    if (u < acc) break;
  }
  return ids[chosen].item<int64_t>();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sampler_test)

BOOST_AUTO_TEST_CASE(sample_rows_picks_what_the_host_walk_picks_row_by_row) {
  at::manual_seed(3);
  std::mt19937_64 gen(11);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (const SamplingOptions& o : {sampling(1, 0, 1, 0), sampling(0.7f, 50, 0.9f, 0), sampling(1.3f, 0, 0.95f, 0),
                                   sampling(0.5f, 5, 1, 0)}) {
    for (int64_t vocab : {4, 100, 3662}) {
      at::Tensor logits = at::randn({6, vocab}) * 3;
      std::vector<double> u;
      for (int r = 0; r < 6; ++r) u.push_back(uniform(gen));
      at::Tensor together = sample_rows(logits, o, u);
      for (int r = 0; r < 6; ++r) {
        BOOST_TEST_INFO("temperature " << o.temperature << ", top_k " << o.top_k << ", top_p " << o.top_p
                                       << ", vocabulary " << vocab << ", row " << r);
        BOOST_TEST(together[r].item<int64_t>() == host_walk(logits[r], o, u[r]));
        BOOST_TEST(sample_rows(logits.narrow(0, r, 1), o, {u[r]}).item<int64_t>() == host_walk(logits[r], o, u[r]));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(greedy_and_truncations_pick_the_argmax) {
  at::Tensor logits = at::tensor({0.1f, 2.0f, 1.9f, -3.0f});
  for (int id : draws(sampling(0, 0, 1, 1), logits, 5)) BOOST_TEST(id == 1);
  for (int id : draws(sampling(1, 1, 1, 2), logits, 20)) BOOST_TEST(id == 1);      // top_k = 1
  for (int id : draws(sampling(1, 0, 0.01f, 3), logits, 20)) BOOST_TEST(id == 1);  // tiny top_p
  for (int id : draws(sampling(1, 2, 1, 4), logits, 50)) BOOST_TEST((id == 1 || id == 2));
}

BOOST_AUTO_TEST_CASE(frequencies_follow_the_softmax) {
  // p = [1/4, 3/4]
  at::Tensor logits = at::tensor({0.0f, std::log(3.0f)});
  auto ids = draws(sampling(1, 0, 1, 7), logits, 4000);
  double ones = std::count(ids.begin(), ids.end(), 1) / 4000.0;
  BOOST_TEST(ones > 0.72);
  BOOST_TEST(ones < 0.78);
  // Temperature 2 flattens it: p1 = sqrt(3) / (1 + sqrt(3)) = 0.634.
  ids = draws(sampling(2, 0, 1, 7), logits, 4000);
  ones = std::count(ids.begin(), ids.end(), 1) / 4000.0;
  BOOST_TEST(ones > 0.60);
  BOOST_TEST(ones < 0.67);
}

BOOST_AUTO_TEST_CASE(seeds_repeat) {
  at::Tensor logits = at::randn({1000}, at::TensorOptions().dtype(at::kFloat));
  BOOST_TEST(draws(sampling(1, 50, 0.9f, 42), logits, 30) ==
             draws(sampling(1, 50, 0.9f, 42), logits, 30));
  BOOST_TEST(draws(sampling(1, 50, 0.9f, 42), logits, 30) !=
             draws(sampling(1, 50, 0.9f, 43), logits, 30));
}

BOOST_AUTO_TEST_CASE(a_resumed_sampler_continues_the_stream_of_the_same_seed) {
  at::Tensor logits = at::randn({1000}, at::TensorOptions().dtype(at::kFloat));
  const SamplingOptions o = sampling(1, 50, 0.9f, 42);
  const std::vector<int> whole = draws(o, logits, 30);
  Sampler first(o);
  std::vector<int> parts;
  for (int i = 0; i < 12; ++i) parts.push_back(first.sample(logits));
  const SamplerState saved = first.state();
  BOOST_TEST(saved.seed == 42u);
  BOOST_TEST(saved.draws == 12u);  // one number a token
  Sampler second(o, saved);
  for (int i = 0; i < 18; ++i) parts.push_back(second.sample(logits));
  BOOST_TEST(parts == whole);
  BOOST_TEST(second.state().draws == 30u);

  // Another seed asks for a new stream: the saved one is not resumed.
  SamplingOptions other = o;
  other.seed = 43;
  Sampler fresh(other, saved);
  BOOST_TEST(fresh.state().draws == 0u);
  std::vector<int> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(fresh.sample(logits));
  BOOST_TEST(ids == draws(other, logits, 30));

  // Greedy draws nothing.
  Sampler greedy(sampling(0, 0, 1, 42));
  greedy.sample(logits);
  BOOST_TEST(greedy.state().draws == 0u);
}

BOOST_AUTO_TEST_CASE(validate_names_the_option) {
  auto bad = [](SamplingOptions o, const std::string& name) {
    Status s = o.validate();
    BOOST_TEST(s.code() == StatusCode::kInvalidArgument);
    BOOST_TEST(s.message().find(name) != std::string::npos);
  };
  SamplingOptions o;
  BOOST_TEST(o.validate().ok());
  o.max_tokens = 0;
  bad(o, "max_tokens");
  bad(sampling(-1, 0, 1, 0), "temperature");
  bad(sampling(1, -2, 1, 0), "top_k");
  bad(sampling(1, 0, 0, 0), "top_p");
  bad(sampling(1, 0, 1.5f, 0), "top_p");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
