#include "model/checkpoint.h"

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>

#include "model/llama.h"
#include "safetensors_testing.h"
#include "testing.h"

namespace fs = std::filesystem;

namespace pcache {
namespace {

// A copy of tiny-mistral in a temp folder, to damage.
struct CheckpointCopy {
  testing::TempDir dir;
  std::string path = dir.path;
  CheckpointCopy() {
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.model"}) {
      fs::copy_file(testing::fixture("tiny-mistral") + "/" + f, path + "/" + f);
      fs::permissions(path + "/" + f, fs::perms::owner_write, fs::perm_options::add);
    }
  }
  Status load_error() const {
    auto ck = Checkpoint::open(path);
    if (!ck.ok()) return ck.status();
    auto m = LlamaModel::load(**ck, at::kFloat, at::kCPU);
    BOOST_REQUIRE(!m.ok());
    return m.status();
  }
};

bool mentions(const Status& s, const std::string& what) {
  BOOST_TEST_MESSAGE(s.to_string());
  return s.message().find(what) != std::string::npos;
}

std::map<std::string, at::Tensor> fixture_tensors(at::ScalarType dtype) {
  auto ck = Checkpoint::open(testing::fixture("tiny-mistral"));
  auto st = SafetensorsFile::open(testing::fixture("tiny-mistral") + "/model.safetensors");
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, info] : (*st)->tensors())
    out[name] = (*ck)->load(name, info.shape, dtype, at::kCPU).value();
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(checkpoint_test)

BOOST_AUTO_TEST_CASE(opens_single_and_sharded) {
  auto m = Checkpoint::open(testing::fixture("tiny-mistral"));
  BOOST_REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  BOOST_TEST((*m)->has("lm_head.weight"));
  auto l = Checkpoint::open(testing::fixture("tiny-llama"));
  BOOST_REQUIRE_MESSAGE(l.ok(), l.status().to_string());
  BOOST_TEST((*l)->has("model.layers.2.mlp.down_proj.weight"));
  auto t = (*l)->load("model.norm.weight", {48}, at::kFloat, at::kCPU);
  BOOST_REQUIRE(t.ok());
  BOOST_TEST((t->scalar_type() == at::kFloat));
}

// Llama 3 instruct: config.json stops on <|end_of_text|> (2049 in the fixture),
// generation_config.json adds <|eom_id|> and <|eot_id|>; a broken one is named.
BOOST_AUTO_TEST_CASE(stop_tokens_come_from_generation_config_too) {
  const std::string llama3 = std::string(PCACHE_SOURCE_DIR) + "/tests/fixtures/hf-variants/llama3-bpe-bf16";
  auto ck = testing::ok(Checkpoint::open(llama3));
  BOOST_TEST(ck->config().eos_token_ids == (std::vector<int>{2049, 2056, 2057}),
             boost::test_tools::per_element());
  CheckpointCopy copy;
  std::ofstream(copy.path + "/generation_config.json") << R"({"eos_token_id": [2, 99999]})";
  auto broken = Checkpoint::open(copy.path);
  BOOST_TEST_REQUIRE(!broken.ok());
  BOOST_TEST(mentions(broken.status(), copy.path + "/generation_config.json: eos_token_id 99999 is outside"));
}

BOOST_AUTO_TEST_CASE(fingerprint_follows_config_and_weights) {
  auto a = Checkpoint::open(testing::fixture("tiny-mistral"));
  auto b = Checkpoint::open(testing::fixture("tiny-mistral"));
  auto c = Checkpoint::open(testing::fixture("tiny-llama"));
  BOOST_REQUIRE(a.ok() && b.ok() && c.ok());
  BOOST_TEST((*a)->fingerprint().size() == 16u);
  BOOST_TEST((*a)->fingerprint() == (*b)->fingerprint());
  BOOST_TEST((*a)->fingerprint() != (*c)->fingerprint());
  CheckpointCopy copy;
  auto d = Checkpoint::open(copy.path);
  BOOST_REQUIRE(d.ok());
  BOOST_TEST((*d)->fingerprint() == (*a)->fingerprint());  // same bytes elsewhere
  std::ofstream(copy.path + "/config.json", std::ios::app) << " ";
  auto e = Checkpoint::open(copy.path);
  BOOST_REQUIRE(e.ok());
  BOOST_TEST((*e)->fingerprint() != (*a)->fingerprint());
}

BOOST_AUTO_TEST_CASE(missing_pieces) {
  BOOST_TEST(Checkpoint::open("/nonexistent/model").status().code() == StatusCode::kNotFound);
  {
    CheckpointCopy c;
    fs::remove(c.path + "/model.safetensors");
    BOOST_TEST(mentions(c.load_error(), "no model.safetensors"));
  }
  {
    CheckpointCopy c;
    fs::remove(c.path + "/config.json");
    Status s = c.load_error();
    BOOST_TEST(s.code() == StatusCode::kNotFound);
    BOOST_TEST(mentions(s, "config.json"));
  }
  {
    CheckpointCopy c;
    auto t = fixture_tensors(at::kFloat);
    t.erase("model.layers.1.mlp.up_proj.weight");
    testing::write_safetensors(c.path + "/model.safetensors", t);
    Status s = c.load_error();
    BOOST_TEST(s.code() == StatusCode::kNotFound);
    BOOST_TEST(mentions(s, "model.layers.1.mlp.up_proj.weight"));
  }
}

BOOST_AUTO_TEST_CASE(wrong_shape_dtype_or_size) {
  {
    CheckpointCopy c;
    auto t = fixture_tensors(at::kFloat);
    t["model.layers.0.self_attn.k_proj.weight"] = at::zeros({32, 32});
    testing::write_safetensors(c.path + "/model.safetensors", t);
    Status s = c.load_error();
    BOOST_TEST(s.code() == StatusCode::kInvalidArgument);
    BOOST_TEST(mentions(
        s, "'model.layers.0.self_attn.k_proj.weight' has shape [32, 32], expected [16, 32]"));
  }
  {
    CheckpointCopy c;
    auto t = fixture_tensors(at::kFloat);
    t["model.norm.weight"] = at::zeros({32}, at::kInt);
    testing::write_safetensors(c.path + "/model.safetensors", t);
    Status s = c.load_error();
    BOOST_TEST(s.code() == StatusCode::kUnsupported);
    BOOST_TEST(mentions(s, "I32"));
  }
  {
    CheckpointCopy c;
    fs::resize_file(c.path + "/model.safetensors",
                    fs::file_size(c.path + "/model.safetensors") / 2);
    Status s = c.load_error();
    BOOST_TEST(s.code() == StatusCode::kCorruption);
    BOOST_TEST(mentions(s, "model.safetensors"));
  }
  {
    CheckpointCopy c;
    std::ofstream(c.path + "/config.json")
        << R"({"model_type": "mistral", "architectures": ["GPT2LMHeadModel"]})";
    Status s = c.load_error();
    BOOST_TEST(s.code() == StatusCode::kUnsupported);
    BOOST_TEST(mentions(s, "GPT2LMHeadModel"));
  }
  {
    CheckpointCopy c;
    std::ofstream(c.path + "/model.safetensors.index.json")
        << R"({"weight_map": {"x": "nope.safetensors"}})";
    Status s = c.load_error();
    BOOST_TEST(s.code() == StatusCode::kNotFound);
    BOOST_TEST(mentions(s, "nope.safetensors"));
  }
}

BOOST_AUTO_TEST_CASE(random_weights_at_the_config_shapes) {
  const std::string config = testing::fixture("tiny-mistral") + "/config.json";
  auto a = Checkpoint::random(config, 7);
  BOOST_REQUIRE_MESSAGE(a.ok(), a.status().to_string());
  BOOST_TEST((*a)->is_random());
  BOOST_TEST(!(*a)->has("model.layers.0.self_attn.q_proj.bias"));
  auto w = (*a)->load("model.layers.1.mlp.up_proj.weight", {96, 32}, at::kFloat, at::kCPU);
  BOOST_REQUIRE(w.ok());
  const double std = w->std().item<double>();
  BOOST_TEST(std > 0.015);  // initializer_range 0.02 over 3072 draws
  BOOST_TEST(std < 0.025);
  auto norm = (*a)->load("model.norm.weight", {32}, at::kFloat, at::kCPU);
  BOOST_REQUIRE(norm.ok());
  BOOST_TEST(norm->equal(at::ones({32})));
  // Seeded per tensor: the same weights again, other ones with another seed.
  auto again = Checkpoint::random(testing::fixture("tiny-mistral"), 7);  // the folder works too
  BOOST_REQUIRE(again.ok());
  BOOST_TEST((*again)->load("model.layers.1.mlp.up_proj.weight", {96, 32}, at::kFloat, at::kCPU)->equal(*w));
  BOOST_TEST((*again)->fingerprint() == (*a)->fingerprint());
  auto other = Checkpoint::random(config, 8);
  BOOST_REQUIRE(other.ok());
  BOOST_TEST((*other)->fingerprint() != (*a)->fingerprint());
  BOOST_TEST(!(*other)->load("model.layers.1.mlp.up_proj.weight", {96, 32}, at::kFloat, at::kCPU)->equal(*w));
  (*a)->widen_vocab(40000);
  BOOST_TEST((*a)->config().vocab_size == 40000);
  auto missing = Checkpoint::random("/no/such/config.json", 1);
  BOOST_TEST(missing.status().code() == StatusCode::kNotFound);
  // A real checkpoint's vocabulary is what it is.
  auto real = Checkpoint::open(testing::fixture("tiny-mistral"));
  BOOST_REQUIRE(real.ok());
  (*real)->widen_vocab(40000);
  BOOST_TEST((*real)->config().vocab_size == 32768);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
