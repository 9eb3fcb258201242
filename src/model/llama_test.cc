#include "model/llama.h"

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>

#include "model/reference_check.h"
#include "safetensors_testing.h"
#include "testing.h"
#include "util/file_util.h"

namespace pcache {
namespace {

std::unique_ptr<LlamaModel> load_model(const std::string& dir, at::ScalarType dtype = at::kFloat) {
  auto ck = Checkpoint::open(dir);
  BOOST_REQUIRE_MESSAGE(ck.ok(), ck.status().to_string());
  auto model = LlamaModel::load(**ck, dtype, at::kCPU);
  BOOST_REQUIRE_MESSAGE(model.ok(), model.status().to_string());
  return std::move(model).value();
}

at::Tensor forward_ok(const LlamaModel& m, const at::Tensor& tokens, const at::Tensor& pos,
                      KVCache& cache, const ForwardOptions& opts = {}) {
  auto out = m.forward(tokens, pos, cache, opts);
  BOOST_REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  return out.value();
}

at::Tensor row(std::vector<int64_t> v) { return at::tensor(v, at::kLong).unsqueeze(0); }

at::Tensor some_tokens(int64_t n, int64_t seed) {
  return at::remainder(at::arange(n, at::kLong) * 7919 + seed * 104729, 32000).unsqueeze(0) + 3;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(llama_test)

BOOST_AUTO_TEST_CASE(matches_transformers_float32) {
  for (const char* name : {"tiny-mistral", "tiny-llama"}) {
    auto model = load_model(testing::fixture(name));
    auto results = check_reference(*model, testing::fixture(name));
    BOOST_REQUIRE_MESSAGE(results.ok(), results.status().to_string());
    BOOST_TEST(results->cases.size() == 4u);  // prefill, gapped, prefix, suffix after prefix
    // tiny-llama's reference was computed from a model cast to bfloat16 in memory.
    BOOST_TEST(results->rope_frequencies ==
               (name == std::string("tiny-llama") ? "rounded to bfloat16" : "float32"));
    for (const auto& r : results->cases) {
      BOOST_TEST_INFO(name << " " << r.name);
      BOOST_TEST(r.max_abs_error <= 1e-3);
      BOOST_TEST(r.top1_agreement == 1.0);
    }
  }
}

BOOST_AUTO_TEST_CASE(checkpoint_variants_match_transformers) {
  // Written by tests/tools/make_reference.py with transformers 5.17: GQA 4:1
  // and 6:1, head_dim apart from hidden / heads, rope bases 1e4 to 1e6,
  // linear and llama3 rope scaling, tied head, attention and MLP biases,
  // float16 / bfloat16 / float32 weights, one file or three shards.
  const std::string root = std::string(PCACHE_SOURCE_DIR) + "/tests/fixtures/hf-variants/";
  for (const char* name : {"llama-gqa4-fp16", "llama-tied-llama3-bf16", "llama-bias-linear-fp32",
                           "mistral-gqa6-fp32"}) {
    auto model = load_model(root + name);
    auto results = check_reference(*model, root + name);
    BOOST_REQUIRE_MESSAGE(results.ok(), results.status().to_string());
    BOOST_TEST(results->rope_frequencies == "float32");
    BOOST_TEST(results->cases.size() == 4u);
    for (const auto& r : results->cases) {
      BOOST_TEST_INFO(name << " " << r.name);
      BOOST_TEST(r.max_abs_error <= 1e-4);
      BOOST_TEST(r.top1_agreement == 1.0);
    }
  }
}

BOOST_AUTO_TEST_CASE(bfloat16_compute_agrees_on_top1) {
  // Random tiny models have close logits, so bfloat16 may flip a few argmaxes:
  // the bar is agreement over all positions, as on the GPU.
  for (const char* name : {"tiny-mistral", "tiny-llama"}) {
    auto model = load_model(testing::fixture(name), at::kBFloat16);
    auto results = check_reference(*model, testing::fixture(name));
    BOOST_REQUIRE_MESSAGE(results.ok(), results.status().to_string());
    double agree = 0, total = 0;
    for (const auto& r : results->cases) {
      agree += r.top1_agreement * r.tokens;
      total += r.tokens;
      BOOST_TEST(r.max_abs_error < 0.1);
    }
    BOOST_TEST_INFO(name);
    BOOST_TEST(agree / total >= 0.9);
  }
}

BOOST_AUTO_TEST_CASE(int8_weights_agree_on_top1) {
  // Weight-only int8 (a scale per output row; or with a zero point) against
  // the float32 reference: the bar of `pcache verify --weights int8`, on
  // every fixture.
  const std::string root = std::string(PCACHE_SOURCE_DIR) + "/tests/fixtures/hf-variants/";
  for (const std::string& dir :
       {testing::fixture("tiny-mistral"), testing::fixture("tiny-llama"),
        root + "llama-bias-linear-fp32", root + "mistral-gqa6-fp32"}) {
   for (WeightFormat format : {WeightFormat::kInt8, WeightFormat::kInt8ZeroPoint}) {
    auto ck = Checkpoint::open(dir);
    BOOST_REQUIRE_MESSAGE(ck.ok(), ck.status().to_string());
    auto model = LlamaModel::load(**ck, at::kFloat, at::kCPU, format);
    BOOST_REQUIRE_MESSAGE(model.ok(), model.status().to_string());
    auto results = check_reference(**model, dir);
    BOOST_REQUIRE_MESSAGE(results.ok(), results.status().to_string());
    double agree = 0, total = 0, worst = 0;
    for (const auto& r : results->cases) {
      agree += r.top1_agreement * r.tokens;
      total += r.tokens;
      worst = std::max(worst, r.max_abs_error);
    }
    BOOST_TEST_MESSAGE(dir << ": " << weight_format_name(format) << " top-1 agreement "
                           << agree / total << ", max abs error " << worst);
    BOOST_TEST_INFO(dir << " " << weight_format_name(format) << ": max abs error " << worst);
    BOOST_TEST(agree / total >= 0.9);
    BOOST_TEST(worst > 0.0);  // the weights did change
    // Measured 0.05-0.26 (the fixtures' logits span a few units; each weight
    // moves by up to 1/254 of its row's range).
    BOOST_TEST(worst < 0.5);
   }
  }
}

BOOST_AUTO_TEST_CASE(token_by_token_equals_one_prefill) {
  auto model = load_model(testing::fixture("tiny-mistral"));
  at::Tensor tokens = some_tokens(12, 1);
  at::Tensor pos = at::arange(12, at::kLong).unsqueeze(0) * 2;  // gapped positions too
  KVCache full = model->new_cache();
  at::Tensor all = forward_ok(*model, tokens, pos, full);
  KVCache step = model->new_cache();
  forward_ok(*model, tokens.narrow(1, 0, 5), pos.narrow(1, 0, 5), step);
  for (int64_t i = 5; i < 12; ++i) {
    at::Tensor one = forward_ok(*model, tokens.narrow(1, i, 1), pos.narrow(1, i, 1), step);
    BOOST_TEST((one[0][0] - all[0][i]).abs().max().item<double>() < 1e-4);
  }
  BOOST_TEST(step.length() == 12);
  BOOST_TEST(at::equal(step.positions(), pos));
  BOOST_TEST((step.keys(1) - full.keys(1)).abs().max().item<double>() < 1e-5);
}

BOOST_AUTO_TEST_CASE(mask_restricts_attention) {
  // Two 6-token blocks in one forward with a block-diagonal causal mask: the
  // second block must give what it gives alone at the same positions.
  auto model = load_model(testing::fixture("tiny-llama"));
  at::Tensor a = some_tokens(6, 2), b = some_tokens(6, 3);
  at::Tensor pos = at::arange(12, at::kLong).unsqueeze(0);
  at::Tensor causal = at::ones({6, 6}, at::kBool).tril();
  at::Tensor mask = at::zeros({12, 12}, at::kBool);
  mask.slice(0, 0, 6).slice(1, 0, 6).copy_(causal);
  mask.slice(0, 6, 12).slice(1, 6, 12).copy_(causal);
  KVCache both = model->new_cache();
  ForwardOptions opts;
  opts.mask = mask;
  at::Tensor joint = forward_ok(*model, at::cat({a, b}, 1), pos, both, opts);
  KVCache alone = model->new_cache();
  at::Tensor single = forward_ok(*model, b, pos.narrow(1, 6, 6), alone);
  BOOST_TEST((joint.narrow(1, 6, 6) - single).abs().max().item<double>() < 1e-4);
  // Without the mask the second block sees the first, and differs.
  KVCache plain = model->new_cache();
  at::Tensor full = forward_ok(*model, at::cat({a, b}, 1), pos, plain);
  BOOST_TEST((full.narrow(1, 6, 6) - single).abs().max().item<double>() > 1e-3);
}

BOOST_AUTO_TEST_CASE(batch_rows_are_independent) {
  auto model = load_model(testing::fixture("tiny-mistral"));
  at::Tensor t1 = some_tokens(8, 4), t2 = some_tokens(8, 5);
  at::Tensor pos = at::arange(8, at::kLong).unsqueeze(0);
  KVCache batch = model->new_cache(2);
  at::Tensor both =
      forward_ok(*model, at::cat({t1, t2}, 0), pos.expand({2, 8}).contiguous(), batch);
  KVCache c1 = model->new_cache(), c2 = model->new_cache();
  BOOST_TEST((both[0] - forward_ok(*model, t1, pos, c1)[0]).abs().max().item<double>() < 1e-4);
  BOOST_TEST((both[1] - forward_ok(*model, t2, pos, c2)[0]).abs().max().item<double>() < 1e-4);
}

BOOST_AUTO_TEST_CASE(bad_inputs_leave_the_cache_alone) {
  auto model = load_model(testing::fixture("tiny-mistral"));
  KVCache cache = model->new_cache();
  forward_ok(*model, row({5, 6, 7}), row({0, 1, 2}), cache);
  auto check = [&](StatusOr<at::Tensor> r, const std::string& needle) {
    BOOST_TEST(!r.ok());
    BOOST_TEST(r.status().code() == StatusCode::kInvalidArgument);
    BOOST_TEST_INFO(r.status().message());
    BOOST_TEST(r.status().message().find(needle) != std::string::npos);
    BOOST_TEST(cache.length() == 3);
  };
  check(model->forward(row({5, 40000}), row({3, 4}), cache), "40000");
  check(model->forward(row({-1}), row({3}), cache), "-1");
  check(model->forward(row({5, 6}), row({3}), cache), "positions");
  ForwardOptions opts;
  opts.mask = at::ones({2, 2}, at::kBool);
  check(model->forward(row({5, 6}), row({3, 4}), cache, opts), "mask");
  KVCache two = model->new_cache(2);
  check(model->forward(row({5}), row({0}), two), "batch");
}

BOOST_AUTO_TEST_CASE(tied_head_and_resharded_half_weights) {
  // The same weights stored as float16 in two shards, with the head tied to
  // the embedding, must load and equal an untied checkpoint whose head is a
  // copy of the embedding.
  const std::string src = testing::fixture("tiny-mistral");
  auto ck = Checkpoint::open(src);
  BOOST_REQUIRE(ck.ok());
  auto st = SafetensorsFile::open(src + "/model.safetensors");
  BOOST_REQUIRE(st.ok());
  std::map<std::string, at::Tensor> first, second;
  for (const auto& [name, info] : (*st)->tensors()) {
    if (name == "lm_head.weight") continue;
    auto t = (*ck)->load(name, info.shape, at::kHalf, at::kCPU);
    BOOST_REQUIRE(t.ok());
    (name.find("layers.1.") == std::string::npos ? first : second)[name] = t.value();
  }
  testing::TempDir tied_dir, untied_dir;
  const std::string tied = tied_dir.path;
  testing::write_safetensors(tied + "/model-00001-of-00002.safetensors", first);
  testing::write_safetensors(tied + "/model-00002-of-00002.safetensors", second);
  nlohmann::json index;
  for (auto* part : {&first, &second}) {
    for (const auto& [name, t] : *part) {
      index["weight_map"][name] =
          part == &first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
  }
  std::ofstream(tied + "/model.safetensors.index.json") << index.dump();
  auto config = nlohmann::json::parse(read_file(src + "/config.json", 1u << 30, "test files").value());
  config["tie_word_embeddings"] = true;
  config.erase("rope_parameters");
  config["rope_theta"] = 1e6;  // transformers 4 spelling
  std::ofstream(tied + "/config.json") << config.dump();

  const std::string untied = untied_dir.path;
  std::map<std::string, at::Tensor> all = first;
  all.insert(second.begin(), second.end());
  all["lm_head.weight"] = all["model.embed_tokens.weight"];
  testing::write_safetensors(untied + "/model.safetensors", all);
  config["tie_word_embeddings"] = false;
  std::ofstream(untied + "/config.json") << config.dump();

  auto m_tied = load_model(tied);
  auto m_untied = load_model(untied);
  at::Tensor tokens = some_tokens(10, 6), pos = at::arange(10, at::kLong).unsqueeze(0);
  KVCache c1 = m_tied->new_cache(), c2 = m_untied->new_cache();
  at::Tensor a = forward_ok(*m_tied, tokens, pos, c1), b = forward_ok(*m_untied, tokens, pos, c2);
  BOOST_TEST(at::equal(a, b));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
