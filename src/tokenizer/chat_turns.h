// ChatTurns: a conversation's tokens one turn at a time, so that each turn
// extends the saved state before it (docs/architecture.md, "Saved states").
// Unlike Tokenizer::apply_chat_template, which formats a whole conversation
// (Mistral v0.3 puts the system prompt in the last user turn), the system
// prompt here opens the first instruction and the first user line continues
// it, so that no later turn changes tokens already computed:
//   mistral: <s>[INST] system\n\n user[/INST] answer</s>[INST] next[/INST]
//   llama2:  <s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\n user [/INST] answer</s><s>[INST] next [/INST]
// Llama 3 and ChatML turns are whole messages, the same ids as
// apply_chat_template gives: each user turn ends with the generation prompt
// (the assistant header), each answer with <|eot_id|> (<|im_end|>\n).
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

  // bos, then the system prompt (if any), left open for the first user line
  // (mistral, llama2); llama3 and chatml close it (Llama 3.1's dated header and
  // Qwen's default system prompt come here even without one).
  // InvalidArgument when the tokenizer lacks the template's special tokens.
  StatusOr<std::vector<int>> start(const std::string& system) const;
  // A user line closing its instruction; `open_turn`: it continues the
  // instruction a system prompt opened; `first_turn`: nothing came before
  // but bos (llama2 opens every later turn with bos).
  StatusOr<std::vector<int>> user(const std::string& text, bool open_turn, bool first_turn) const;
  // An answer, then end_of_answer().
  StatusOr<std::vector<int>> answer(const std::string& text) const;
  // What closes an answer: eos (Llama 3: <|eot_id|>; ChatML: <|im_end|> "\n").
  StatusOr<std::vector<int>> end_of_answer() const;
  // llama3 and chatml: what opens a message of `role` (its header; PML role
  // tags), closed by end_of_answer(). InvalidArgument for the other templates.
  StatusOr<std::vector<int>> message_start(const std::string& role) const;

 private:
  StatusOr<int> control(const char* piece) const;
  // Llama 3's <|start_header_id|>role<|end_header_id|> then "\n\n" + text.
  StatusOr<std::vector<int>> llama3_message(const std::string& role, const std::string& text) const;
  // ChatML's <|im_start|>role\ntext, without its end.
  StatusOr<std::vector<int>> chatml_open(const std::string& role, const std::string& text) const;

  const Tokenizer& tok_;
  ChatTemplate template_;
};

}  // namespace pcache
