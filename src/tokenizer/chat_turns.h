// ChatTurns: a conversation's tokens one turn at a time, so that each turn
// extends the saved state before it (docs/architecture.md, "Saved states").
// Unlike Tokenizer::apply_chat_template, which formats a whole conversation
// (Mistral v0.3 puts the system prompt in the last user turn), the system
// prompt here opens the first instruction and the first user line continues
// it, so that no later turn changes tokens already computed:
//   mistral: <s>[INST] system\n\n user[/INST] answer</s>[INST] next[/INST]
//   llama2:  <s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\n user [/INST] answer</s><s>[INST] next [/INST]
// Thread-compatible; holds a reference to the tokenizer.
#pragma once

#include <string>
#include <vector>

#include "pcache/status.h"
#include "pcache/tokenizer.h"

namespace pcache {

class ChatTurns {
 public:
  ChatTurns(const Tokenizer& tokenizer, ChatTemplate chat_template)
      : tok_(tokenizer), template_(chat_template) {}

  // bos, then the system prompt (if any), left open for the first user line.
  // InvalidArgument when the mistral template's tokenizer lacks [INST].
  StatusOr<std::vector<int>> start(const std::string& system) const;
  // A user line closing its instruction; `open_turn`: it continues the
  // instruction a system prompt opened; `first_turn`: nothing came before
  // but bos (llama2 opens every later turn with bos).
  StatusOr<std::vector<int>> user(const std::string& text, bool open_turn, bool first_turn) const;
  // An answer, closed with eos.
  std::vector<int> answer(const std::string& text) const;

 private:
  StatusOr<int> control(const char* piece) const;

  const Tokenizer& tok_;
  ChatTemplate template_;
};

}  // namespace pcache
