// ChatTurns: each turn's tokens, so that a conversation grows by appending.
#include "tokenizer/chat_turns.h"

#include <boost/test/unit_test.hpp>

#include "tokenizer/tokenizer_testing.h"

namespace pcache {
namespace {

using testing::mistral_tokenizer;
using Ids = std::vector<int>;

constexpr int kBos = 1, kEos = 2, kInst = 3, kEndInst = 4;

Ids concat(std::initializer_list<Ids> parts) {
  Ids out;
  for (const Ids& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

using testing::ok;

}  // namespace

BOOST_AUTO_TEST_SUITE(chat_turns_test)

BOOST_AUTO_TEST_CASE(mistral_system_opens_the_first_instruction) {
  const Tokenizer& tok = mistral_tokenizer();
  ChatTurns turns(tok, ChatTemplate::kMistral);
  BOOST_TEST(ok(turns.start("")) == Ids{kBos});
  const Ids conversation = concat({ok(turns.start("Be brief.")), ok(turns.user("Hi", true, true)),
                                   ok(turns.answer("Hello")), ok(turns.user("Bye", false, false))});
  const Ids want = concat({{kBos, kInst}, tok.encode("Be brief.\n\n"), tok.encode("Hi"), {kEndInst},
                           tok.encode("Hello"), {kEos, kInst}, tok.encode("Bye"), {kEndInst}});
  BOOST_TEST(conversation == want);
}

BOOST_AUTO_TEST_CASE(llama2_turns_open_with_bos_after_the_first) {
  const Tokenizer& tok = mistral_tokenizer();
  ChatTurns turns(tok, ChatTemplate::kLlama2);
  BOOST_TEST(ok(turns.start("Sys")) == concat({{kBos}, tok.encode("[INST] <<SYS>>\nSys\n<</SYS>>\n\n")}));
  BOOST_TEST(ok(turns.user("Hi", true, true)) == tok.encode("Hi [/INST]"));
  BOOST_TEST(ok(turns.user("Hi", false, true)) == tok.encode("[INST] Hi [/INST]"));
  BOOST_TEST(ok(turns.user("Hi", false, false)) == concat({{kBos}, tok.encode("[INST] Hi [/INST]")}));
}

// Llama 3 and ChatML turns, appended one by one, are the ids of the whole
// conversation in the checkpoint's template (which the fixtures test against
// transformers), with and without a system message.
BOOST_AUTO_TEST_CASE(llama3_and_chatml_turns_add_up_to_the_whole_conversation) {
  for (const char* name : {"llama3-bpe-bf16", "qwen2-bpe-tied-fp32"}) {
    auto tok = ok(Tokenizer::load(std::string(PCACHE_SOURCE_DIR) + "/tests/fixtures/hf-variants/" +
                                  name + "/tokenizer.json"));
    const ChatTemplate family = ok(tok->default_chat_template());
    ChatTurns turns(*tok, family);
    for (const std::string system : {"", " Be brief. "}) {
      std::vector<ChatMessage> messages = {{"user", " Hi "}, {"assistant", "Hello! "}, {"user", "Bye"}};
      if (!system.empty()) messages.insert(messages.begin(), {"system", system});
      const Ids turn_by_turn =
          concat({ok(turns.start(system)), ok(turns.user(" Hi ", !system.empty(), true)),
                  ok(turns.answer("Hello! ")), ok(turns.user("Bye", false, false))});
      BOOST_TEST(turn_by_turn == ok(tok->apply_chat_template(messages, family, true)),
                 boost::test_tools::per_element());
    }
    // A PML role tag's tokens are a whole message.
    const Ids message = concat({ok(turns.message_start("user")), tok->encode("Hi"), ok(turns.end_of_answer())});
    const Ids whole = ok(tok->apply_chat_template({{"user", "Hi"}}, family, false));
    BOOST_TEST(Ids(whole.end() - static_cast<std::ptrdiff_t>(message.size()), whole.end()) == message,
               boost::test_tools::per_element());
  }
  // The other templates have no message headers.
  BOOST_TEST(!ChatTurns(mistral_tokenizer(), ChatTemplate::kMistral).message_start("user").ok());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
