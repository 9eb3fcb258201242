#include "model/model_config.h"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "testing.h"

namespace pcache {
namespace {

const char* kBase = R"({"architectures": ["MistralForCausalLM"], "model_type": "mistral",
  "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 1e6})";

Status parse_error(const std::string& text) {
  auto c = parse_model_config(text, "config.json");
  BOOST_REQUIRE(!c.ok());
  return c.status();
}

// kBase with the keys of `extra` ("\"key\": value, ...") added or replaced.
std::string with(const std::string& extra) {
  nlohmann::json j = nlohmann::json::parse(kBase);
  j.update(nlohmann::json::parse("{" + extra + "}"));
  return j.dump();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(model_config_test)

BOOST_AUTO_TEST_CASE(hostile_json_is_an_error_not_an_abort) {
  // A number beyond a double: nlohmann::json throws out_of_range (406) there.
  std::string base = kBase;
  const std::string overflow = base.substr(0, base.size() - 1) + ", \"initializer_range\": 1e400}";
  Status s = parse_error(overflow);
  BOOST_TEST(s.code() == StatusCode::kCorruption);
  BOOST_TEST(s.message().find("config.json: not valid JSON: [json.exception.out_of_range.406]") != std::string::npos);
  // A key given twice: which one would transformers use?
  const std::string twice = base.substr(0, base.size() - 1) + ", \"vocab_size\": 7}";
  BOOST_TEST(parse_error(twice).message().find("\"vocab_size\" given twice") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(keys_of_the_wrong_type_are_errors_not_ignored) {
  Status s = parse_error(with(R"("rope_parameters": 5)"));
  BOOST_TEST(s.code() == StatusCode::kInvalidArgument);
  BOOST_TEST(s.message().find("\"rope_parameters\" has value 5: not an object") != std::string::npos);
  BOOST_TEST(parse_error(with(R"("rope_scaling": "linear")")).message().find("rope_scaling") !=
             std::string::npos);
  BOOST_TEST(parse_error(with(R"("architectures": "LlamaForCausalLM")")).message().find(
                 "architectures") != std::string::npos);
  BOOST_TEST(parse_error(with(R"("hidden_size": "256")")).message().find("hidden_size") !=
             std::string::npos);
  // null is "not given", as transformers writes it.
  BOOST_TEST(parse_model_config(with(R"("rope_scaling": null)"), "c").ok());
}

BOOST_AUTO_TEST_CASE(absurd_shapes_are_refused_before_anything_is_sized_from_them) {
  Status s = parse_error(with(R"("hidden_size": 1000000000)"));
  BOOST_TEST(s.code() == StatusCode::kInvalidArgument);
  BOOST_TEST(s.message().find("\"hidden_size\" must be in 1..65536") != std::string::npos);
  BOOST_TEST(parse_error(with(R"("num_hidden_layers": 100000)")).message().find(
                 "num_hidden_layers") != std::string::npos);
  BOOST_TEST(parse_error(with(R"("vocab_size": 9000000000)")).message().find("vocab_size") !=
             std::string::npos);
  BOOST_TEST(parse_error(with(R"("max_position_embeddings": -4)")).message().find(
                 "max_position_embeddings") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(messages_quote_only_a_short_excerpt_of_the_input) {
  const std::string huge_type(10 << 20, 'q');
  Status s = parse_error(with("\"model_type\": \"" + huge_type + "\""));
  BOOST_TEST(s.code() == StatusCode::kUnsupported);
  BOOST_TEST(s.message().size() < 300u);
  BOOST_TEST(s.message().find("(10485760 bytes)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(reads_fixtures) {
  auto m = load_model_config(testing::fixture("tiny-mistral") + "/config.json");
  BOOST_REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  BOOST_TEST(m->num_kv_heads == 1);
  BOOST_TEST(m->head_dim == 16);
  BOOST_TEST(m->rope_theta == 1e6);  // under rope_parameters (transformers 5)
  BOOST_TEST(!m->sliding_window.has_value());
  auto l = load_model_config(testing::fixture("tiny-llama") + "/config.json");
  BOOST_REQUIRE(l.ok());
  BOOST_TEST(l->rms_norm_eps == 1e-6);
  BOOST_TEST(l->num_layers == 3);
  auto big = load_model_config(testing::fixture("configs") + "/mistral-7b-instruct-v0.3.json");
  BOOST_REQUIRE(big.ok());
  BOOST_TEST(big->head_dim == 128);    // derived: 4096 / 32
  BOOST_TEST(big->rope_theta == 1e6);  // top level (transformers 4)
  BOOST_TEST(big->summary() ==
             "mistral: 32 layers, hidden 4096, heads 32/8 x 128, ffn 14336, vocab 32768");
}

BOOST_AUTO_TEST_CASE(defaults_and_variants) {
  auto c = parse_model_config(kBase, "c");
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(c->head_dim == 16);
  BOOST_TEST(!c->tie_word_embeddings);
  BOOST_TEST((c->eos_token_ids == std::vector<int>{2}));
  auto e = parse_model_config(
      with(R"("eos_token_id": [2, 7], "tie_word_embeddings": true, "head_dim": 32)"), "c");
  BOOST_REQUIRE(e.ok());
  BOOST_TEST((e->eos_token_ids == std::vector<int>{2, 7}));
  BOOST_TEST(e->tie_word_embeddings);
  BOOST_TEST(e->head_dim == 32);
  auto r = parse_model_config(with(R"("rope_scaling": {"rope_type": "llama3", "factor": 8.0,
      "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})"),
                              "c");
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().to_string());
  BOOST_TEST((r->rope_scaling.kind == RopeScaling::Kind::kLlama3));
  auto w = parse_model_config(with(R"("sliding_window": 4096)"), "c");
  BOOST_REQUIRE(w.ok());
  BOOST_TEST(*w->sliding_window == 4096);
}

BOOST_AUTO_TEST_CASE(errors_name_the_key) {
  BOOST_TEST(parse_error("{not json").code() == StatusCode::kCorruption);
  BOOST_TEST(parse_error("[1, 2]").code() == StatusCode::kCorruption);
  Status s = parse_error(R"({"model_type": "llama"})");
  BOOST_TEST(s.message().find("vocab_size") != std::string::npos);
  s = parse_error(with(R"("model_type": "gpt2")"));
  BOOST_TEST(s.code() == StatusCode::kUnsupported);
  BOOST_TEST(s.message().find("gpt2") != std::string::npos);
  s = parse_error(with(R"("hidden_act": "gelu")"));
  BOOST_TEST(s.code() == StatusCode::kUnsupported);
  s = parse_error(with(R"("num_key_value_heads": 3)"));
  BOOST_TEST(s.message().find("num_key_value_heads") != std::string::npos);
  s = parse_error(with(R"("hidden_size": "big")"));
  BOOST_TEST(s.message().find("hidden_size") != std::string::npos);
  s = parse_error(with(R"("rope_scaling": {"rope_type": "yarn", "factor": 2.0})"));
  BOOST_TEST(s.code() == StatusCode::kUnsupported);
  BOOST_TEST(s.message().find("yarn") != std::string::npos);
  s = parse_error(with(R"("num_hidden_layers": 0)"));
  BOOST_TEST(s.message().find("num_hidden_layers") != std::string::npos);
  BOOST_TEST(load_model_config("/nonexistent/config.json").status().code() ==
             StatusCode::kNotFound);
}

// Qwen 2: q/k/v biases without "attention_bias"; its sliding_window (written
// even when off) counts only with use_sliding_window, which pcache refuses.
BOOST_AUTO_TEST_CASE(qwen2_implies_biases_and_ignores_an_unused_window) {
  const std::string qwen =
      with(R"("model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "sliding_window": 32768,
              "use_sliding_window": false)");
  ModelConfig c = testing::ok(parse_model_config(qwen, "config.json"));
  BOOST_TEST(c.attention_bias);
  BOOST_TEST(!c.sliding_window.has_value());
  BOOST_TEST(!testing::ok(parse_model_config(kBase, "config.json")).attention_bias);
  Status s = parse_error(with(R"("model_type": "qwen2", "use_sliding_window": true)"));
  BOOST_TEST(s.code() == StatusCode::kUnsupported);
  BOOST_TEST(s.message() == "config.json: qwen2 with use_sliding_window (per-layer sliding windows are not implemented)");
  s = parse_error(with(R"("model_type": "qwen3")"));
  BOOST_TEST(s.message() == "config.json: model_type \"qwen3\" (supported: llama, mistral, qwen2)");
}

// generation_config.json adds stop tokens (Llama 3 instruct's <|eot_id|>).
BOOST_AUTO_TEST_CASE(generation_config_adds_stop_tokens) {
  ModelConfig c = testing::ok(parse_model_config(with(R"("eos_token_id": 7)"), "config.json"));
  BOOST_TEST_REQUIRE(add_generation_config(R"({"eos_token_id": [7, 9, 8]})", "g.json", &c).ok());
  BOOST_TEST(c.eos_token_ids == (std::vector<int>{7, 9, 8}), boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(add_generation_config(R"({"eos_token_id": 5, "temperature": 0.6})", "g.json", &c).ok());
  BOOST_TEST(c.eos_token_ids == (std::vector<int>{7, 9, 8, 5}), boost::test_tools::per_element());
  BOOST_TEST(add_generation_config("{}", "g.json", &c).ok());
  Status s = add_generation_config(R"({"eos_token_id": 100})", "g.json", &c);
  BOOST_TEST(s.message() == "g.json: eos_token_id 100 is outside the vocabulary of 100");
  s = add_generation_config(R"({"eos_token_id": "x"})", "g.json", &c);
  BOOST_TEST(s.message().find("g.json: key \"eos_token_id\" has value \"x\"") == 0u, s.message());
  BOOST_TEST(add_generation_config("[", "g.json", &c).code() == StatusCode::kCorruption);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
