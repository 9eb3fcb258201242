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

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
