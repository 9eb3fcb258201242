#include "pcache/quantize.h"

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <limits>

#include "model/checkpoint.h"
#include "model/int8_checkpoint_format.h"
#include "model/llama.h"
#include "model/reference_check.h"
#include "model/safetensors_writer.h"
#include "model_testing.h"
#include "testing.h"

namespace fs = std::filesystem;

namespace pcache {
namespace {

at::Tensor logits_of(const LlamaModel& model) {
  KVCache cache = model.new_cache();
  const std::vector<int> ids = testing::some_ids(9, 5, model.config().vocab_size);
  at::Tensor tokens = at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong).unsqueeze(0);
  at::Tensor positions = at::arange(9, at::kLong).unsqueeze(0);
  return testing::ok(model.forward(tokens, positions, cache));
}

std::unique_ptr<LlamaModel> load(const std::string& dir, WeightFormat weights) {
  auto ck = testing::ok(Checkpoint::open(dir));
  return testing::ok(LlamaModel::load(*ck, at::kFloat, at::kCPU, weights));
}

// `dir`'s model.safetensors rewritten with `edit` applied to its tensors.
void rewrite(const std::string& dir, const std::function<void(std::map<std::string, at::Tensor>&)>& edit) {
  std::map<std::string, at::Tensor> tensors;
  {
    auto ck = testing::ok(Checkpoint::open(dir));
    for (const std::string& name : ck->tensor_names()) tensors[name] = testing::ok(ck->stored(name)).clone();
  }
  edit(tensors);
  std::vector<SafetensorsEntry> entries;
  for (const auto& [name, t] : tensors) {
    entries.push_back({name, st_dtype_of(t.scalar_type()), t.sizes().vec(),
                       [t]() -> StatusOr<at::Tensor> { return t; }});
  }
  BOOST_REQUIRE(write_safetensors(dir + "/model.safetensors", entries).ok());
}

Status load_error(const std::string& dir) {
  auto ck = Checkpoint::open(dir);
  if (!ck.ok()) return ck.status();
  auto m = LlamaModel::load(**ck, at::kFloat, at::kCPU);
  BOOST_REQUIRE(!m.ok());
  BOOST_TEST_MESSAGE(m.status().to_string());
  return m.status();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(quantize_test)

BOOST_AUTO_TEST_CASE(an_int8_checkpoint_computes_what_load_time_int8_computes) {
  for (const std::string& name : testing::staged_models()) {
    const std::string source = testing::fixture(name);
    testing::TempDir dir;
    const std::string out = dir.path + "/int8";
    QuantizeReport r = testing::ok(quantize_checkpoint(source, out));
    auto ck = testing::ok(Checkpoint::open(out));
    const ModelConfig& c = ck->config();
    // Seven projections a layer; the tied head is the embedding, kept.
    BOOST_TEST(r.quantized_tensors == 7 * c.num_layers + (c.tie_word_embeddings ? 0 : 1));
    BOOST_TEST(r.kept_tensors == 2 * c.num_layers + 2);
    BOOST_TEST(r.int8_weight_bytes < r.source_weight_bytes);
    BOOST_TEST(ck->is_int8("model.layers.0.self_attn.q_proj.weight"));
    BOOST_TEST(!ck->is_int8("model.embed_tokens.weight"));
    BOOST_TEST((ck->stored_weights() == WeightFormat::kInt8));
    for (const char* f : {"config.json", "tokenizer.model", "reference.safetensors"}) {
      if (fs::exists(source + "/" + f)) BOOST_TEST(fs::exists(out + "/" + f), f);
    }
    // Whatever --weights says, the stored int8 weights are used as they are:
    // the logits are those of quantizing at load time, bit for bit.
    auto expected = load(source, WeightFormat::kInt8);
    auto stored = load(out, WeightFormat::kModelDtype);
    BOOST_TEST((stored->weights() == WeightFormat::kInt8));
    BOOST_TEST(at::equal(logits_of(*stored), logits_of(*expected)), source);
    // The reference logits copied beside it still check, under the int8 bar
    // (top-1 agreement over all positions).
    auto report = testing::ok(check_reference(*stored, out));
    double agree = 0, total = 0;
    for (const auto& cs : report.cases) {
      agree += cs.top1_agreement * cs.tokens;
      total += cs.tokens;
    }
    BOOST_TEST(agree / total >= 0.9);
  }
}

BOOST_AUTO_TEST_CASE(the_zero_point_form_too) {
  const std::string source = testing::fixture(testing::staged_models().front());
  testing::TempDir dir;
  const std::string out = dir.path + "/int8-zp";
  testing::ok(quantize_checkpoint(source, out, "int8-zp"));
  auto ck = testing::ok(Checkpoint::open(out));
  BOOST_TEST((ck->stored_weights() == WeightFormat::kInt8ZeroPoint));
  auto expected = load(source, WeightFormat::kInt8ZeroPoint);
  auto stored = load(out, WeightFormat::kInt8);
  BOOST_TEST((stored->weights() == WeightFormat::kInt8ZeroPoint));
  BOOST_TEST(at::equal(logits_of(*stored), logits_of(*expected)));
  // Not the symmetric form's numbers.
  BOOST_TEST(!at::equal(logits_of(*stored), logits_of(*load(source, WeightFormat::kInt8))));
  BOOST_TEST(quantize_checkpoint(source, dir.path + "/x", "dtype").status().code() ==
             StatusCode::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(refuses_to_overwrite_or_quantize_twice) {
  const std::string source = testing::fixture(testing::staged_models().front());
  testing::TempDir dir;
  auto s = quantize_checkpoint(source, source).status();
  BOOST_TEST(s.code() == StatusCode::kInvalidArgument);
  fs::create_directories(dir.path + "/full");
  { std::ofstream(dir.path + "/full/keep.txt") << "mine"; }
  s = quantize_checkpoint(source, dir.path + "/full").status();
  BOOST_TEST(s.code() == StatusCode::kInvalidArgument);
  BOOST_TEST(s.message().find("not an empty folder") != std::string::npos);
  BOOST_TEST(!fs::exists(dir.path + "/full/model.safetensors"));
  testing::ok(quantize_checkpoint(source, dir.path + "/once"));
  s = quantize_checkpoint(dir.path + "/once", dir.path + "/twice").status();
  BOOST_TEST(s.code() == StatusCode::kInvalidArgument);
  BOOST_TEST(s.message().find("int8 already") != std::string::npos);
  s = quantize_checkpoint(dir.path + "/missing", dir.path + "/x").status();
  BOOST_TEST(s.code() == StatusCode::kNotFound);
  // A source that fails half way (a projection in F64, which pcache does not
  // read, found while writing) leaves no folder behind.
  const std::string bad = dir.path + "/bad";
  fs::create_directories(bad);
  for (const auto& e : fs::directory_iterator(source)) fs::copy_file(e.path(), bad + "/" + e.path().filename().string());
  fs::permissions(bad + "/model.safetensors", fs::perms::owner_write, fs::perm_options::add);
  rewrite(bad, [](auto& t) {
    t["model.layers.0.mlp.up_proj.weight"] = t["model.layers.0.mlp.up_proj.weight"].to(at::kDouble);
  });
  s = quantize_checkpoint(bad, dir.path + "/from-bad").status();
  BOOST_TEST_MESSAGE(s.to_string());
  BOOST_TEST(!s.ok());
  BOOST_TEST(!fs::exists(dir.path + "/from-bad"));
  // Into a folder that was there and empty: kept (not removed with what was written), empty.
  fs::create_directories(dir.path + "/empty");
  BOOST_TEST(!quantize_checkpoint(bad, dir.path + "/empty").ok());
  BOOST_TEST(fs::is_directory(dir.path + "/empty"));
  BOOST_TEST(fs::is_empty(dir.path + "/empty"));
}

BOOST_AUTO_TEST_CASE(damaged_scales_are_named) {
  const std::string source = testing::fixture(testing::staged_models().front());
  const std::string q = "model.layers.0.self_attn.q_proj.weight";
  const std::string scale = q + int8_checkpoint_format::kScaleSuffix;
  auto damaged = [&](const std::function<void(std::map<std::string, at::Tensor>&)>& edit) {
    testing::TempDir dir;
    const std::string out = dir.path + "/int8";
    testing::ok(quantize_checkpoint(source, out));
    rewrite(out, edit);
    return load_error(out);
  };
  Status s = damaged([&](auto& t) { t[scale][3] = std::nan(""); });
  BOOST_TEST(s.code() == StatusCode::kCorruption);
  BOOST_TEST(s.message().find(scale) != std::string::npos);
  s = damaged([&](auto& t) { t[scale][0] = 0.f; });
  BOOST_TEST(s.code() == StatusCode::kCorruption);
  s = damaged([&](auto& t) { t[scale] = t[scale].to(at::kBFloat16); });
  BOOST_TEST(s.code() == StatusCode::kCorruption);
  BOOST_TEST(s.message().find("expected F32") != std::string::npos);
  s = damaged([&](auto& t) { t[scale] = t[scale].narrow(0, 0, 2).clone(); });
  BOOST_TEST(s.code() == StatusCode::kCorruption);
  // Without its scale an int8 tensor is not a weight pcache can read.
  s = damaged([&](auto& t) { t.erase(scale); });
  BOOST_TEST(s.code() == StatusCode::kUnsupported);
  BOOST_TEST(s.message().find(q) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(damaged_offsets_are_named) {
  const std::string source = testing::fixture(testing::staged_models().front());
  const std::string offset = std::string("model.layers.0.mlp.down_proj.weight") +
                             int8_checkpoint_format::kOffsetSuffix;
  testing::TempDir dir;
  const std::string out = dir.path + "/int8-zp";
  testing::ok(quantize_checkpoint(source, out, "int8-zp"));
  rewrite(out, [&](auto& t) { t[offset][1] = std::numeric_limits<float>::infinity(); });
  Status s = load_error(out);
  BOOST_TEST(s.code() == StatusCode::kCorruption);
  BOOST_TEST(s.message().find(offset) != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
