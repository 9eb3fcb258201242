// LlamaModel::forward_paged against the dense forward: the same logits for
// sequences run together, prefilled in chunks, forked and extended.
#include <boost/test/unit_test.hpp>

#include "model/llama.h"
#include "model/model_testing.h"

namespace pcache {
namespace {

using testing::range;
using testing::some_ids;

// Dense logits [T, V] of `ids` from position 0 in one forward.
at::Tensor dense_logits(const LlamaModel& m, const std::vector<int>& ids) {
  KVCache cache = m.new_cache(1);
  std::vector<int64_t> t(ids.begin(), ids.end());
  auto out = m.forward(at::tensor(t, at::kLong).unsqueeze(0),
                       at::tensor(range(0, static_cast<int64_t>(ids.size())), at::kLong).unsqueeze(0), cache);
  BOOST_REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  return (*out)[0];
}

at::Tensor paged_ok(const LlamaModel& m, const std::vector<PagedInput>& inputs) {
  auto out = m.forward_paged(inputs);
  BOOST_REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  return *out;
}

void append_ok(PagedSequence& s, const std::vector<int>& ids) {
  BOOST_REQUIRE(s.append(ids, range(s.length(), static_cast<int64_t>(ids.size()))).ok());
}

struct Fixture {
  std::unique_ptr<LlamaModel> model =
      testing::load_fixture_model("tiny-mistral", at::kFloat, at::kCPU);
  std::unique_ptr<BlockPool> pool = [this] {
    auto p = BlockPool::create(model->config(), at::kFloat, at::kCPU, 64);
    BOOST_REQUIRE(p.ok());
    return std::move(p).value();
  }();
};

}  // namespace

BOOST_AUTO_TEST_SUITE(paged_forward_test)

BOOST_AUTO_TEST_CASE(sequences_together_equal_each_alone_and_dense) {
  Fixture f;
  const std::vector<int> a = some_ids(37, 1), b = some_ids(5, 2);
  PagedSequence sa(*f.pool), sb(*f.pool);
  append_ok(sa, a);
  append_ok(sb, b);
  at::Tensor both = paged_ok(*f.model, {{&sa, 37, true}, {&sb, 5, true}});  // [42, V]
  BOOST_TEST(both.size(0) == 42);
  // Alone, a sequence's paged forward is the dense one bit for bit; together,
  // the projections run over more rows, which BLAS may block differently.
  PagedSequence alone(*f.pool);
  append_ok(alone, a);
  BOOST_TEST(at::equal(paged_ok(*f.model, {{&alone, 37, true}}), dense_logits(*f.model, a)));
  BOOST_TEST((both.narrow(0, 0, 37) - dense_logits(*f.model, a)).abs().max().item<float>() < 1e-5);
  BOOST_TEST((both.narrow(0, 37, 5) - dense_logits(*f.model, b)).abs().max().item<float>() < 1e-5);

  // Decode steps: one token each, the two sequences at different lengths.
  std::vector<int> ga = a, gb = b;
  for (int step = 0; step < 4; ++step) {
    const int next_a = 100 + step, next_b = 200 + step;
    ga.push_back(next_a);
    gb.push_back(next_b);
    append_ok(sa, {next_a});
    append_ok(sb, {next_b});
    at::Tensor last = paged_ok(*f.model, {{&sa, 1}, {&sb, 1}});  // [2, V]
    BOOST_TEST((last[0] - dense_logits(*f.model, ga)[-1]).abs().max().item<float>() < 1e-5);
    BOOST_TEST((last[1] - dense_logits(*f.model, gb)[-1]).abs().max().item<float>() < 1e-5);
  }
}

BOOST_AUTO_TEST_CASE(chunked_prefill_and_forks_equal_dense) {
  Fixture f;
  const std::vector<int> prompt = some_ids(45, 3);
  PagedSequence s(*f.pool);
  at::Tensor last;
  for (size_t from = 0; from < prompt.size(); from += 16) {  // chunks of 16, the last of 13
    const std::vector<int> chunk(prompt.begin() + from,
                                 prompt.begin() + std::min(prompt.size(), from + 16));
    append_ok(s, chunk);
    last = paged_ok(*f.model, {{&s, static_cast<int64_t>(chunk.size())}});
  }
  const at::Tensor want = dense_logits(*f.model, prompt)[-1];
  BOOST_TEST((last[0] - want).abs().max().item<float>() < 1e-5);

  // Two forks of the prompt go on differently; the prompt's blocks are shared.
  PagedSequence x = s.share(), y = s.share();
  append_ok(x, {11, 12});
  append_ok(y, {21});
  at::Tensor out = paged_ok(*f.model, {{&x, 2}, {&y, 1}});
  std::vector<int> px = prompt, py = prompt;
  px.insert(px.end(), {11, 12});
  py.push_back(21);
  BOOST_TEST((out[0] - dense_logits(*f.model, px)[-1]).abs().max().item<float>() < 1e-5);
  BOOST_TEST((out[1] - dense_logits(*f.model, py)[-1]).abs().max().item<float>() < 1e-5);
  BOOST_TEST(x.blocks()[0] == s.blocks()[0]);
  // The prompt itself still computes what it did (within BLAS blocking: alone
  // here, batched with y above).
  append_ok(s, {11, 12});
  BOOST_TEST((paged_ok(*f.model, {{&s, 2}})[0] - out[0]).abs().max().item<float>() < 1e-5);
}

BOOST_AUTO_TEST_CASE(bad_inputs_are_errors) {
  Fixture f;
  PagedSequence s(*f.pool);
  append_ok(s, {5, 6});
  BOOST_TEST(f.model->forward_paged({}).status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(f.model->forward_paged({{&s, 0}}).status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(f.model->forward_paged({{&s, 3}}).status().code() == StatusCode::kInvalidArgument);
  PagedSequence bad(*f.pool);
  BOOST_REQUIRE(bad.append({40000}, {0}).ok());
  auto r = f.model->forward_paged({{&bad, 1}});
  BOOST_TEST(r.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(r.status().message().find("token id 40000") != std::string::npos);
}

// A decode step whose ids are on the device only (the previous step's
// argmax): the sequences hold placeholders, the logits are the same.
BOOST_AUTO_TEST_CASE(fed_tokens_replace_the_placeholders) {
  Fixture f;
  PagedSequence a(*f.pool), b(*f.pool), pa(*f.pool), pb(*f.pool);
  append_ok(a, {5, 6, 7, 8});
  append_ok(b, {9, 10});
  append_ok(pa, {5, 6, 7});
  append_ok(pb, {9});
  paged_ok(*f.model, {{&pa, 3}, {&pb, 1}});
  append_ok(pa, {-1});
  append_ok(pb, {-1});
  const at::Tensor want = paged_ok(*f.model, {{&a, 4}, {&b, 2}});
  auto fed = f.model->forward_paged({{&pa, 1}, {&pb, 1}}, at::tensor({int64_t{8}, int64_t{10}}));
  BOOST_REQUIRE_MESSAGE(fed.ok(), fed.status().to_string());
  BOOST_TEST((*fed - want).abs().max().item<float>() < 1e-5);
  // Without them the placeholder is a bad id; with the wrong shape or for
  // more than one entry, they are refused.
  BOOST_TEST(f.model->forward_paged({{&pa, 1}}).status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(f.model->forward_paged({{&pa, 1}}, at::tensor({int64_t{8}, int64_t{10}})).status().code() ==
             StatusCode::kInvalidArgument);
  BOOST_TEST(f.model->forward_paged({{&pa, 2}}, at::tensor({int64_t{8}})).status().code() ==
             StatusCode::kInvalidArgument);
  BOOST_TEST(f.model->forward_paged({{&pa, 1}}, at::tensor({8}, at::kInt)).status().code() ==
             StatusCode::kInvalidArgument);
}

// On a GPU in bfloat16 forward_paged runs one varlen flash attention over all
// sequences: it must agree with each sequence's own attention.
BOOST_AUTO_TEST_CASE(varlen_flash_equals_attention_per_sequence,
                     *boost::unit_test::precondition(testing::CudaPresent())) {
  if (!flash_varlen_available(at::Device(at::kCUDA), at::kBFloat16)) return;
  const int64_t h = 8, h_kv = 2, d = 64;
  const std::vector<std::pair<int64_t, int64_t>> seqs = {{37, 37}, {300, 1}, {20, 7}, {1, 1}, {5000, 3}};
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  std::vector<at::Tensor> qs, ks, vs;
  std::vector<int64_t> cu_q = {0}, cu_k = {0};
  int64_t max_q = 0, max_k = 0;
  at::manual_seed(3);
  for (auto [s, n] : seqs) {
    qs.push_back(at::randn({n, h, d}, opts));
    ks.push_back(at::randn({s, h_kv, d}, opts));
    vs.push_back(at::randn({s, h_kv, d}, opts));
    cu_q.push_back(cu_q.back() + n);
    cu_k.push_back(cu_k.back() + s);
    max_q = std::max(max_q, n);
    max_k = std::max(max_k, s);
  }
  auto ints = [](const std::vector<int64_t>& v) { return at::tensor(v, at::kLong).to(at::kInt).cuda(); };
  at::Tensor got = flash_varlen(at::cat(qs), at::cat(ks), at::cat(vs), ints(cu_q), ints(cu_k), max_q,
                                max_k, 0.125);  // [sum n, H, D]
  for (size_t j = 0; j < seqs.size(); ++j) {
    // [1, H, n, D] against [1, Hkv, S, D], causal at the end
    at::Tensor want = grouped_attention(qs[j].transpose(0, 1).unsqueeze(0), ks[j].transpose(0, 1).unsqueeze(0),
                                        vs[j].transpose(0, 1).unsqueeze(0), at::Tensor(), 0.125)[0]
                          .transpose(0, 1);  // [n, H, D]
    at::Tensor mine = got.narrow(0, cu_q[j], seqs[j].second);
    BOOST_TEST_INFO("sequence " << j);
    BOOST_TEST((mine.to(at::kFloat) - want.to(at::kFloat)).abs().max().item<float>() < 2e-2);
  }
}

BOOST_AUTO_TEST_CASE(paged_forward_on_cuda_equals_dense,
                     *boost::unit_test::precondition(testing::CudaPresent())) {
  auto model = testing::load_fixture_model("tiny-mistral", at::kBFloat16, at::Device(at::kCUDA));
  auto pool = BlockPool::create(model->config(), at::kBFloat16, at::Device(at::kCUDA), 64);
  BOOST_REQUIRE(pool.ok());
  const std::vector<int> a = some_ids(37, 1), b = some_ids(5, 2);
  PagedSequence sa(**pool), sb(**pool);
  append_ok(sa, a);
  append_ok(sb, b);
  // Four sequences or more take the varlen path: the two prompts, then two
  // forks of the first decoding beside it and the second, sharing its blocks.
  PagedSequence sc(**pool), sd(**pool);
  append_ok(sc, a);
  append_ok(sd, b);
  at::Tensor all = paged_ok(*model, {{&sa, 37, true}, {&sb, 5, true}, {&sc, 37, true}, {&sd, 5, true}})
                       .to(at::kFloat);  // [84, V]
  at::Tensor da = dense_logits(*model, a).to(at::kFloat), db = dense_logits(*model, b).to(at::kFloat);
  BOOST_TEST((all.narrow(0, 0, 37) - da).abs().max().item<float>() < 0.05);
  BOOST_TEST((all.narrow(0, 37, 5) - db).abs().max().item<float>() < 0.05);
  BOOST_TEST((all.narrow(0, 42, 37) - da).abs().max().item<float>() < 0.05);
  PagedSequence fork = sa.share(), fork2 = sa.share();
  std::vector<int> ga = a, gf = a, gb = b;
  for (int step = 0; step < 3; ++step) {
    ga.push_back(100 + step);
    gf.push_back(300 + step);
    gb.push_back(500 + step);
    append_ok(sa, {100 + step});
    append_ok(fork, {300 + step});
    append_ok(fork2, {300 + step});
    append_ok(sb, {500 + step});
    at::Tensor last = paged_ok(*model, {{&sa, 1}, {&fork, 1}, {&sb, 1}, {&fork2, 1}}).to(at::kFloat);
    BOOST_TEST((last[0] - dense_logits(*model, ga)[-1].to(at::kFloat)).abs().max().item<float>() < 0.05);
    BOOST_TEST((last[1] - dense_logits(*model, gf)[-1].to(at::kFloat)).abs().max().item<float>() < 0.05);
    BOOST_TEST((last[2] - dense_logits(*model, gb)[-1].to(at::kFloat)).abs().max().item<float>() < 0.05);
    BOOST_TEST((last[3] - last[1]).abs().max().item<float>() < 1e-6);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
