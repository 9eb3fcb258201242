#include "pcache/engine.h"

#include <boost/test/unit_test.hpp>
#include <cstdio>

#include "model/llama.h"
#include "testing.h"

namespace pcache {
namespace {

std::unique_ptr<Engine> open_engine(const std::string& name) {
  auto e = Engine::open(testing::fixture(name));
  BOOST_REQUIRE_MESSAGE(e.ok(), e.status().to_string());
  return std::move(e).value();
}

SamplingOptions greedy(int max_tokens) {
  SamplingOptions o;
  o.max_tokens = max_tokens;
  o.stop_at_eos = false;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(engine_test)

BOOST_AUTO_TEST_CASE(greedy_decoding_equals_recomputing_everything) {
  auto engine = open_engine("tiny-llama");
  const std::vector<int> prompt = {1, 415, 2936, 9060, 285, 1142};
  auto gen = engine->generate_tokens(prompt, greedy(6));
  BOOST_REQUIRE_MESSAGE(gen.ok(), gen.status().to_string());
  BOOST_TEST(gen->tokens.size() == 6u);
  BOOST_TEST((gen->stop_reason == StopReason::kMaxTokens));
  BOOST_TEST(gen->timings.prompt_tokens == 6);
  BOOST_TEST(gen->timings.generated_tokens == 6);
  // The first token's time holds the wait for the scheduler and the prefill.
  const GenerationTimings& t = gen->timings;
  BOOST_TEST(t.queued_ms >= 0.0);
  BOOST_TEST(t.prefill_ms > 0.0);
  BOOST_TEST(t.queued_ms + t.prefill_ms <= t.first_token_ms);

  // Reference: a fresh full forward over prompt + tokens so far, no reuse.
  auto ck = Checkpoint::open(testing::fixture("tiny-llama"));
  auto model = LlamaModel::load(**ck, at::kFloat, at::kCPU);
  std::vector<int64_t> seq(prompt.begin(), prompt.end());
  for (int expected : gen->tokens) {
    KVCache cache = (*model)->new_cache();
    const int64_t n = static_cast<int64_t>(seq.size());
    auto logits = (*model)->forward(at::tensor(seq, at::kLong).unsqueeze(0),
                                    at::arange(n, at::kLong).unsqueeze(0), cache);
    BOOST_REQUIRE(logits.ok());
    BOOST_TEST(logits.value()[0][n - 1].argmax().item<int64_t>() == expected);
    seq.push_back(expected);
  }
}

BOOST_AUTO_TEST_CASE(text_streams_and_callback_stops) {
  auto engine = open_engine("tiny-mistral");
  std::string streamed;
  auto gen =
      engine->generate("The capital of France is", greedy(10), [&](const std::string& piece) {
        streamed += piece;
        return true;
      });
  BOOST_REQUIRE_MESSAGE(gen.ok(), gen.status().to_string());
  BOOST_TEST(streamed == gen->text);
  BOOST_TEST(gen->text == (*engine->tokenizer())->decode(gen->tokens));
  BOOST_TEST(gen->tokens.size() == 10u);

  int calls = 0;
  auto stopped = engine->generate("The capital of France is", greedy(10), [&](const std::string&) {
    ++calls;
    return false;
  });
  BOOST_REQUIRE(stopped.ok());
  BOOST_TEST((stopped->stop_reason == StopReason::kCallback));
  BOOST_TEST(calls == 1);
  BOOST_TEST(stopped->tokens.size() < 10u);
}

BOOST_AUTO_TEST_CASE(sampling_repeats_with_its_seed) {
  auto engine = open_engine("tiny-mistral");
  SamplingOptions o = greedy(12);
  o.temperature = 1.0f;
  o.top_k = 100;
  o.top_p = 0.95f;
  o.seed = 11;
  auto a = engine->generate("Once upon a time", o), b = engine->generate("Once upon a time", o);
  o.seed = 12;
  auto c = engine->generate("Once upon a time", o);
  BOOST_REQUIRE(a.ok() && b.ok() && c.ok());
  BOOST_TEST(a->tokens == b->tokens);
  BOOST_TEST(a->tokens != c->tokens);
}

BOOST_AUTO_TEST_CASE(chat_prompt_uses_the_template) {
  auto engine = open_engine("tiny-mistral");
  BOOST_TEST((engine->chat_template() == ChatTemplate::kMistral));
  auto gen = engine->generate_chat({{"system", "Be brief."}, {"user", "Hello"}}, greedy(3));
  BOOST_REQUIRE_MESSAGE(gen.ok(), gen.status().to_string());
  auto ids = (*engine->tokenizer())
                 ->apply_chat_template({{"system", "Be brief."}, {"user", "Hello"}},
                                       ChatTemplate::kMistral, true);
  BOOST_TEST(gen->timings.prompt_tokens == static_cast<int>(ids->size()));
  auto bad = engine->generate_chat({{"assistant", "Hi"}}, greedy(3));
  BOOST_TEST(bad.status().code() == StatusCode::kInvalidArgument);
}

BOOST_AUTO_TEST_CASE(bad_options_and_inputs) {
  BOOST_TEST(Engine::open("/nonexistent").status().code() == StatusCode::kNotFound);
  EngineOptions o;
  o.device = "tpu";
  BOOST_TEST(!Engine::open(testing::fixture("tiny-mistral"), o).ok());
  o.device = "cpu";
  o.dtype = "int8";
  auto s = Engine::open(testing::fixture("tiny-mistral"), o).status();
  BOOST_TEST(s.code() == StatusCode::kInvalidArgument);
  BOOST_TEST(s.message().find("int8") != std::string::npos);
  BOOST_TEST(s.message().find("auto") != std::string::npos);  // the choices, auto among them
  // float16 on the CPU: refused before loading, in plain words (not libtorch's addmm error).
  o.dtype = "float16";
  s = Engine::open(testing::fixture("tiny-mistral"), o).status();
  BOOST_TEST(s.code() == StatusCode::kUnsupported);
  BOOST_TEST(s.message().find("float16 on the CPU") != std::string::npos, s.message());
  o.dtype = "auto";
  o.max_lone_batch_tokens = -1;
  s = Engine::open(testing::fixture("tiny-mistral"), o).status();
  BOOST_TEST(s.code() == StatusCode::kInvalidArgument);
  BOOST_TEST(s.message().find("max_lone_batch_tokens must be >= 0") != std::string::npos, s.message());
  o.max_lone_batch_tokens = 0;
  o.chat_template = "vicuna";
  BOOST_TEST(Engine::open(testing::fixture("tiny-mistral"), o).status().code() ==
             StatusCode::kInvalidArgument);
  // A template whose special tokens the tokenizer lacks.
  o.chat_template = "chatml";
  s = Engine::open(testing::fixture("tiny-mistral"), o).status();
  BOOST_TEST(s.message() == "chat template chatml: this tokenizer has no <|im_start|> special token");
  // std::filesystem throws on a name too long to look up: a Status, not a throw.
  o.chat_template = "auto";
  o.tokenizer = std::string(5000, 't');
  s = Engine::open(testing::fixture("tiny-mistral"), o).status();
  BOOST_TEST(s.code() == StatusCode::kInternal);
  BOOST_TEST(s.message().rfind("open ", 0) == 0, s.message());

  auto engine = open_engine("tiny-mistral");
  auto gen = engine->generate_tokens({1, 99999}, greedy(2));
  BOOST_TEST(gen.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(gen.status().message().find("99999") != std::string::npos);
  BOOST_TEST(engine->generate_tokens({}, greedy(2)).status().code() ==
             StatusCode::kInvalidArgument);
  BOOST_TEST(engine->generate("hi", greedy(0)).status().message().find("max_tokens") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(verify_through_the_engine) {
  auto engine = open_engine("tiny-mistral");
  auto cases = engine->verify(testing::fixture("tiny-mistral"));
  BOOST_REQUIRE_MESSAGE(cases.ok(), cases.status().to_string());
  BOOST_TEST(cases->cases.size() == 4u);
  for (const auto& c : cases->cases) BOOST_TEST(c.max_abs_error < 1e-4);
  BOOST_TEST(engine->verify("/nonexistent").status().code() == StatusCode::kNotFound);
}

// run_file finds the schema a prompt names beside the prompt, else in the
// schema path, and says where it looked when it cannot.
BOOST_AUTO_TEST_CASE(a_prompt_file_finds_its_schema) {
  testing::TempDir dir;
  auto write = [](const std::string& path, const std::string& text) {
    FILE* f = std::fopen(path.c_str(), "w");
    BOOST_REQUIRE(f);
    std::fputs(text.c_str(), f);
    std::fclose(f);
  };
  write(dir.path + "/notes.xml", R"(<schema name="notes"><module name="m">Open daily.</module></schema>)");
  write(dir.path + "/ask.xml", R"(<prompt schema="notes"><m/><user>When?</user></prompt>)");
  write(dir.path + "/lost.xml", R"(<prompt schema="nowhere"><user>Hi</user></prompt>)");
  auto engine = open_engine("tiny-mistral");
  RunOptions run;
  run.sampling.max_tokens = 2;
  auto gen = engine->run_file(dir.path + "/ask.xml", run);
  BOOST_REQUIRE_MESSAGE(gen.ok(), gen.status().to_string());
  BOOST_TEST(gen->timings.modules_encoded == 2);  // the schema's text and m
  auto lost = engine->run_file(dir.path + "/lost.xml", run);
  BOOST_TEST(lost.status().code() == StatusCode::kNotFound);
  BOOST_TEST(lost.status().message().find(dir.path + "/nowhere.xml, schemas/nowhere.xml") !=
                 std::string::npos,
             lost.status().message());
}

// A run may pick its modules' encoding mode; each mode's states are cached
// apart, and the generation names the modules it reused and encoded.
BOOST_AUTO_TEST_CASE(a_run_picks_its_encoding_and_names_its_modules) {
  auto engine = open_engine("tiny-mistral");
  BOOST_REQUIRE(engine
                    ->add_schema(R"(<schema name="inn" mode="independent">The inn.
    <module name="room">Rooms have two beds and a desk.</module>
    <module name="food">Breakfast is served at seven.</module></schema>)")
                    .ok());
  const std::string prompt = R"(<prompt schema="inn"><room/><food/><user>When?</user></prompt>)";
  const std::vector<std::string> all = {"", "room", "food"};
  RunOptions run;
  run.sampling = greedy(2);
  auto first = engine->run(prompt, run);
  BOOST_REQUIRE_MESSAGE(first.ok(), first.status().to_string());
  BOOST_TEST(first->encoded_modules == all, boost::test_tools::per_element());
  BOOST_TEST(first->reused_modules.empty());
  BOOST_TEST(first->timings.modules_encoded == 3);

  run.encoding = ModuleEncoding::kScaffold;  // not the schema's mode: states of their own
  auto scaffold = engine->run(prompt, run);
  BOOST_REQUIRE(scaffold.ok());
  BOOST_TEST(scaffold->timings.modules_encoded > 0);
  BOOST_TEST(scaffold->encoded_modules.size() ==
             static_cast<size_t>(scaffold->timings.modules_encoded));
  BOOST_TEST(scaffold->reused_modules.size() + scaffold->encoded_modules.size() == 3u);
  auto again = engine->run(prompt, run);
  BOOST_REQUIRE(again.ok());
  BOOST_TEST(again->reused_modules == all, boost::test_tools::per_element());
  BOOST_TEST(again->encoded_modules.empty());

  run.encoding = ModuleEncoding::kIndependent;  // the schema's own: the first run's states
  auto independent = engine->run(prompt, run);
  BOOST_REQUIRE(independent.ok());
  BOOST_TEST(independent->encoded_modules.empty());
  BOOST_TEST(independent->tokens == first->tokens, boost::test_tools::per_element());
}

// A schema registered for a tenant (a cache salt) is that tenant's alone;
// the shared ones are everyone's, and a tenant removes only its own.
BOOST_AUTO_TEST_CASE(a_tenants_schema_is_its_own) {
  auto engine = open_engine("tiny-mistral");
  const char* mine = R"(<schema name="inn"><module name="room">Rooms for one.</module></schema>)";
  const char* shared = R"(<schema name="inn"><module name="room">Rooms for two.</module></schema>)";
  BOOST_REQUIRE(engine->add_schema(mine, "mine", /*cache_salt=*/7).ok());
  const std::string prompt = R"(<prompt schema="inn"><room/><user>Size?</user></prompt>)";
  RunOptions run;
  run.sampling = greedy(1);
  run.sampling.cache_salt = 8;
  BOOST_TEST(engine->run(prompt, run).status().code() == StatusCode::kNotFound);
  BOOST_TEST(engine->compile("inn", 8).status().code() == StatusCode::kNotFound);
  BOOST_TEST(engine->remove_schema("inn", 8).code() == StatusCode::kNotFound);
  BOOST_REQUIRE(engine->add_schema(shared).ok());
  BOOST_TEST(engine->run(prompt, run).ok());  // the shared one
  run.sampling.cache_salt = 7;
  auto own = engine->run(prompt, run);  // its own, not the shared one: encoded for it
  BOOST_REQUIRE(own.ok());
  const std::vector<std::string> both = {"", "room"};  // the schema's text and its module
  BOOST_TEST(own->encoded_modules == both, boost::test_tools::per_element());
  BOOST_TEST(engine->remove_schema("inn", 8).code() ==
             StatusCode::kNotFound);  // never the shared one
  BOOST_TEST(engine->remove_schema("inn", 7).ok());
  BOOST_TEST(engine->run(prompt, run)->reused_modules == both,
             boost::test_tools::per_element());  // now the shared one, encoded before
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
