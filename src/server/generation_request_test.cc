// Requests are read into typed options; every malformed, mistyped, out of
// range or unsupported field is refused with a 400 that names it.
#include "server/generation_request.h"

#include <boost/test/unit_test.hpp>

namespace pcache::server {
namespace {

RequestLimits limits() {
  RequestLimits l;
  l.defaults.max_tokens = 16;
  l.max_tokens_limit = 100;
  l.max_n = 4;
  return l;
}

GenerationRequest ok(const std::string& body, Endpoint e = Endpoint::kChat) {
  auto r = parse_generation_request(body, e, limits());
  if (auto* err = std::get_if<ApiError>(&r)) BOOST_FAIL(err->message);
  return std::get<GenerationRequest>(r);
}

ApiError refused(const std::string& body, Endpoint e = Endpoint::kChat) {
  auto r = parse_generation_request(body, e, limits());
  BOOST_REQUIRE_MESSAGE(std::holds_alternative<ApiError>(r), body);
  return std::get<ApiError>(r);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(generation_request_test)

BOOST_AUTO_TEST_CASE(a_chat_request_is_read) {
  auto r = ok(R"({"model":"m","messages":[{"role":"system","content":"Be brief."},
      {"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":"!"}]}],
      "max_tokens":8,"temperature":0.5,"top_p":0.9,"top_k":-1,"seed":7,"stop":["\n"],
      "stream":true,"stream_options":{"include_usage":true},"n":1,"user":"u1",
      "presence_penalty":0,"logprobs":false})");
  BOOST_TEST(r.messages.size() == 2u);
  BOOST_TEST(r.messages[1].content == "Hi!");
  BOOST_TEST(r.sampling.max_tokens == 8);
  BOOST_TEST(r.sampling.temperature == 0.5f);
  BOOST_TEST(r.sampling.top_k == 0);
  BOOST_TEST(r.sampling.seed == 7u);
  BOOST_TEST(r.stop == std::vector<std::string>{"\n"});
  BOOST_TEST((r.stream && r.include_usage));
  BOOST_TEST(ok(R"({"messages":[{"role":"user","content":"x"}]})").sampling.max_tokens == 16);
  BOOST_TEST(r.n == 1);
  BOOST_TEST(ok(R"({"messages":[{"role":"user","content":"x"}],"n":4})").n == 4);
}

BOOST_AUTO_TEST_CASE(a_completion_takes_text_or_token_ids) {
  BOOST_TEST(ok(R"({"prompt":"Once"})", Endpoint::kCompletion).prompt == "Once");
  BOOST_TEST(ok(R"({"prompt":["Once"]})", Endpoint::kCompletion).prompt == "Once");
  BOOST_TEST(ok(R"({"prompt":[1,2,3]})", Endpoint::kCompletion).prompt_ids.size() == 3u);
  BOOST_TEST(ok(R"({"prompt":"","state":"st-3"})", Endpoint::kCompletion).state == "st-3");
  BOOST_TEST(ok(R"({"pml":"<prompt/>"})", Endpoint::kCompletion).pml == "<prompt/>");
}

BOOST_AUTO_TEST_CASE(a_pml_request_may_pick_its_encoding) {
  BOOST_TEST((ok(R"({"pml":"<prompt/>"})").encoding == ModuleEncoding::kSchema));
  BOOST_TEST(
      (ok(R"({"pml":"<prompt/>","encoding":"scaffold"})").encoding == ModuleEncoding::kScaffold));
  BOOST_TEST(
      (ok(R"({"pml":"<prompt/>","encoding":"independent"})", Endpoint::kCompletion).encoding ==
       ModuleEncoding::kIndependent));
}

BOOST_AUTO_TEST_CASE(bad_fields_are_named) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"messages":[{"role":"user","content":"x"}],"temperature":"hot"})", "temperature"},
      {R"({"messages":[{"role":"user","content":"x"}],"temperature":3})", "temperature"},
      {R"({"messages":[{"role":"user","content":"x"}],"max_tokens":0})", "max_tokens"},
      {R"({"messages":[{"role":"user","content":"x"}],"max_tokens":101})", "max_tokens"},
      {R"({"messages":[{"role":"user","content":"x"}],"max_tokens":1.5})", "max_tokens"},
      {R"({"messages":[{"role":"user","content":"x"}],"top_p":0})", "top_p"},
      {R"({"messages":[{"role":"user","content":"x"}],"n":5})", "n"},
      {R"({"messages":[{"role":"user","content":"x"}],"n":0})", "n"},
      {R"({"messages":[{"role":"user","content":"x"}],"n":2,"save_state":true})", "n"},
      {R"({"messages":[{"role":"user","content":"x"}],"tools":[]})", "tools"},
      {R"({"messages":[{"role":"user","content":"x"}],"logprobs":true})", "logprobs"},
      {R"({"messages":[{"role":"user","content":"x"}],"frequency_penalty":0.5})",
       "frequency_penalty"},
      {R"({"messages":[{"role":"user","content":"x"}],"stop":["a",""]})", "stop"},
      {R"({"messages":[{"role":"user","content":"x"}],"stop":7})", "stop"},
      {R"({"messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}})",
       "stream_options"},
      {R"({"messages":[{"role":"user","content":"x"}],"seed":1e3})", "seed"},
      {R"({"messages":[{"role":"robot","content":"x"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"user"}]})", "messages[0].content"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})",
       "messages[0].content[0].type"},
      {R"({"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]})",
       "messages[1].role"},
      {R"({"messages":[]})", "messages"},
      {R"({"messages":"hi"})", "messages"},
      {R"({"model":"m"})", "messages"},
      {R"({"messages":[{"role":"user","content":"x"}],"pml":"<prompt/>"})", "pml"},
      {R"({"pml":"<prompt/>","encoding":"fast"})", "encoding"},
      {R"({"pml":"<prompt/>","encoding":1})", "encoding"},
      {R"({"messages":[{"role":"user","content":"x"}],"encoding":"scaffold"})", "encoding"},
  };
  for (const auto& [body, param] : cases) {
    ApiError e = refused(body);
    BOOST_TEST(e.status == 400);
    BOOST_TEST(e.param == param, body << " -> " << e.message);
    BOOST_TEST(e.message.find(param) != std::string::npos, e.message);
  }
  BOOST_TEST(refused(R"({"prompt":["a","b"]})", Endpoint::kCompletion).param == "prompt");
  BOOST_TEST(refused(R"({"prompt":"a","messages":[]})", Endpoint::kCompletion).param == "messages");
}

BOOST_AUTO_TEST_CASE(a_body_that_is_not_a_json_object_is_refused) {
  for (const char* body : {"", "{", "[1]", "\"x\"", "{\"a\":1,}", "\xff"}) {
    ApiError e = refused(body);
    BOOST_TEST(e.status == 400);
    BOOST_TEST(e.param.empty());
    BOOST_TEST((e.message.find("JSON") != std::string::npos), e.message);
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache::server
