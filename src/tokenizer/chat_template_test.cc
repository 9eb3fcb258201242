#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "pcache/tokenizer.h"
#include "tokenizer/tokenizer_testing.h"

namespace pcache {
namespace {

using testing::mistral_tokenizer;
using Ids = std::vector<int>;
using Messages = std::vector<ChatMessage>;

constexpr int kBos = 1;
constexpr int kEos = 2;
constexpr int kInst = 3;
constexpr int kEndInst = 4;

Ids concat(std::initializer_list<Ids> parts) {
  Ids out;
  for (const Ids& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Ids apply(const Messages& messages, ChatTemplate chat_template, bool add_generation_prompt) {
  auto ids =
      mistral_tokenizer().apply_chat_template(messages, chat_template, add_generation_prompt);
  BOOST_TEST_REQUIRE(ids.ok(), ids.status().to_string());
  return ids.value();
}

// Expects InvalidArgument from both templates, with `where` in the message.
void expect_invalid(const Messages& messages, bool add_generation_prompt,
                    const std::string& where) {
  for (ChatTemplate chat_template : {ChatTemplate::kMistral, ChatTemplate::kLlama2}) {
    auto ids =
        mistral_tokenizer().apply_chat_template(messages, chat_template, add_generation_prompt);
    BOOST_TEST_REQUIRE(!ids.ok(), "accepted, expected an error at " << where);
    BOOST_TEST(ids.status().code() == StatusCode::kInvalidArgument);
    BOOST_TEST(ids.status().message().find(where) != std::string::npos,
               ids.status().message() << " does not name " << where);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(chat_template_test)

BOOST_AUTO_TEST_CASE(mistral_single_turn) {
  // <s>[INST]▁Hi[/INST]
  BOOST_TEST(
      apply({{"user", "Hi"}}, ChatTemplate::kMistral, true) == (Ids{kBos, kInst, 16127, kEndInst}),
      boost::test_tools::per_element());
  // Without a generation prompt a final user turn reads the same.
  BOOST_TEST(
      apply({{"user", "Hi"}}, ChatTemplate::kMistral, false) == (Ids{kBos, kInst, 16127, kEndInst}),
      boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(mistral_system_joins_the_last_user_turn) {
  Ids ids =
      apply({{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}},
            ChatTemplate::kMistral, true);
  // <s>[INST]▁Hi[/INST]▁Hello!</s>[INST]▁Be▁brief.\n\nBye[/INST]
  BOOST_TEST(ids == (Ids{kBos, kInst, 16127, kEndInst, 23325, 29576, kEos, kInst, 2507, 7585, 29491,
                         781, 781, 2698, 29474, kEndInst}),
             boost::test_tools::per_element());
  const Tokenizer& t = mistral_tokenizer();
  BOOST_TEST(ids == concat({{kBos, kInst},
                            t.encode("Hi"),
                            {kEndInst},
                            t.encode("Hello!"),
                            {kEos, kInst},
                            t.encode("Be brief.\n\nBye"),
                            {kEndInst}}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(mistral_closes_a_final_answer_with_eos) {
  const Tokenizer& t = mistral_tokenizer();
  Ids ids = apply(
      {{"system", "Sys"}, {"user", "Q1"}, {"assistant", "A1"}, {"user", "Q2"}, {"assistant", "A2"}},
      ChatTemplate::kMistral, false);
  BOOST_TEST(ids == concat({{kBos, kInst},
                            t.encode("Q1"),
                            {kEndInst},
                            t.encode("A1"),
                            {kEos, kInst},
                            t.encode("Sys\n\nQ2"),
                            {kEndInst},
                            t.encode("A2"),
                            {kEos}}),
             boost::test_tools::per_element());
  BOOST_TEST(t.decode(ids) == "Q1 A1 Sys\n\nQ2 A2");
}

BOOST_AUTO_TEST_CASE(mistral_needs_an_inst_control_token) {
  for (auto extra : {std::vector<std::pair<std::string, int>>{},
                     std::vector<std::pair<std::string, int>>{{"[INST]", 1}, {"[/INST]", 1}}}) {
    auto t = testing::ascii_tokenizer(extra);
    auto ids = t->apply_chat_template({{"user", "hi"}}, ChatTemplate::kMistral, true);
    BOOST_TEST_REQUIRE(!ids.ok());
    BOOST_TEST(ids.status().message().find("no [INST] control token") != std::string::npos,
               ids.status().message());
    BOOST_TEST(ids.status().message().find("llama2") != std::string::npos);
    BOOST_TEST(t->apply_chat_template({{"user", "hi"}}, ChatTemplate::kLlama2, true).ok());
  }
}

BOOST_AUTO_TEST_CASE(llama2_single_turn) {
  const Tokenizer& t = mistral_tokenizer();
  Ids ids = apply({{"user", "  Hi \n"}}, ChatTemplate::kLlama2, true);
  BOOST_TEST(ids == concat({{kBos}, t.encode("[INST] Hi [/INST]")}),
             boost::test_tools::per_element());
  BOOST_TEST(t.decode(ids) == "[INST] Hi [/INST]");
}

BOOST_AUTO_TEST_CASE(llama2_meta_reference_format) {
  const Tokenizer& t = mistral_tokenizer();
  Ids ids =
      apply({{"system", "Be brief."}, {"user", "Hi"}, {"assistant", " Hello! "}, {"user", "Bye"}},
            ChatTemplate::kLlama2, true);
  // <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer} </s><s>[INST] {user} [/INST]
  BOOST_TEST(ids == concat({{kBos},
                            t.encode("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! "),
                            {kEos, kBos},
                            t.encode("[INST] Bye [/INST]")}),
             boost::test_tools::per_element());
  BOOST_TEST(t.decode(ids) ==
             "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello!  [INST] Bye [/INST]");
  for (int id : ids) {
    BOOST_TEST((id != kInst && id != kEndInst), "llama2 text must not use control id " << id);
  }
}

BOOST_AUTO_TEST_CASE(llama2_closes_a_final_answer_with_eos) {
  const Tokenizer& t = mistral_tokenizer();
  Ids ids = apply({{"user", "Q"}, {"assistant", "A"}}, ChatTemplate::kLlama2, false);
  BOOST_TEST(ids == concat({{kBos}, t.encode("[INST] Q [/INST] A "), {kEos}}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(rejects_an_empty_conversation) { expect_invalid({}, true, "no messages"); }

BOOST_AUTO_TEST_CASE(rejects_an_unknown_role) {
  expect_invalid({{"user", "a"}, {"bot", "b"}}, false, "message 1 (bot)");
}

BOOST_AUTO_TEST_CASE(rejects_a_late_system_message) {
  expect_invalid({{"user", "a"}, {"system", "b"}}, false, "message 1 (system)");
}

BOOST_AUTO_TEST_CASE(rejects_two_users_in_a_row) {
  expect_invalid({{"system", "s"}, {"user", "a"}, {"user", "b"}}, true, "message 2 (user)");
}

BOOST_AUTO_TEST_CASE(rejects_two_assistants_in_a_row) {
  expect_invalid({{"user", "a"}, {"assistant", "b"}, {"assistant", "c"}}, false,
                 "message 2 (assistant)");
}

BOOST_AUTO_TEST_CASE(rejects_a_conversation_not_starting_with_user) {
  expect_invalid({{"system", "s"}, {"assistant", "a"}, {"user", "b"}}, true,
                 "message 1 (assistant)");
  expect_invalid({{"assistant", "a"}}, false, "message 0 (assistant)");
  expect_invalid({{"system", "s"}}, false, "message 0 (system)");
}

BOOST_AUTO_TEST_CASE(generation_prompt_needs_a_final_user_message) {
  expect_invalid({{"user", "a"}, {"assistant", "b"}}, true, "message 1 (assistant)");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
