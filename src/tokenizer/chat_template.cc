// Tokenizer::apply_chat_template: the Mistral v0.3 and Llama-2 chat formats.
#include <optional>
#include <string>
#include <vector>

#include "pcache/tokenizer.h"

namespace pcache {
namespace {

std::string describe(size_t index, const std::string& role) {
  return "message " + std::to_string(index) + " (" + role + ")";
}

// Roles: an optional first "system", then "user" and "assistant" alternating,
// starting with "user".
Status validate(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  if (messages.empty()) return Status::invalid_argument("the conversation has no messages");
  const std::string* previous = nullptr;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (role != "system" && role != "user" && role != "assistant") {
      return Status::invalid_argument(describe(i, role) +
                                      ": unknown role (expected system, user or assistant)");
    }
    if (role == "system" && i != 0) {
      return Status::invalid_argument(describe(i, role) + ": a system message may only come first");
    }
    if (role != "system" && previous == nullptr && role != "user") {
      return Status::invalid_argument(describe(i, role) +
                                      ": the conversation must start with a user message");
    }
    if (previous != nullptr && *previous == role) {
      return Status::invalid_argument(describe(i, role) + ": follows another " + role +
                                      " message; user and assistant must alternate");
    }
    if (role != "system") previous = &role;
  }
  if (previous == nullptr) {
    return Status::invalid_argument(describe(0, "system") +
                                    ": the conversation has no user message");
  }
  if (add_generation_prompt && *previous != "user") {
    size_t last = messages.size() - 1;
    return Status::invalid_argument(describe(last, messages[last].role) +
                                    ": the last message must be from the user to add a "
                                    "generation prompt");
  }
  return Status::ok_status();
}

void append(std::vector<int>* ids, const std::vector<int>& more) {
  ids->insert(ids->end(), more.begin(), more.end());
}

std::string strip(const std::string& s) {
  constexpr const char* kSpace = " \t\n\r\f\v";
  size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

// As mistral-common's v3 instruct tokenizer: [INST] and [/INST] are control
// ids around each user turn, each answer ends with eos, and the system prompt
// joins the last user turn.
StatusOr<std::vector<int>> mistral(const Tokenizer& tokenizer,
                                   const std::vector<ChatMessage>& messages) {
  std::optional<int> inst = tokenizer.piece_to_id("[INST]");
  std::optional<int> end_inst = tokenizer.piece_to_id("[/INST]");
  if (!inst || !end_inst || !tokenizer.is_control(*inst) || !tokenizer.is_control(*end_inst)) {
    return Status::invalid_argument(
        "chat template mistral: this tokenizer has no [INST] control token; use the llama2 "
        "template");
  }
  size_t last_user = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role == "user") last_user = i;
  }
  const std::string* system = messages[0].role == "system" ? &messages[0].content : nullptr;

  std::vector<int> ids = {tokenizer.bos_id()};
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user") {
      ids.push_back(*inst);
      append(&ids,
             tokenizer.encode(system != nullptr && i == last_user ? *system + "\n\n" + m.content
                                                                  : m.content));
      ids.push_back(*end_inst);
    } else if (m.role == "assistant") {
      append(&ids, tokenizer.encode(m.content));
      ids.push_back(tokenizer.eos_id());
    }
  }
  return ids;
}

// As Meta's reference chat_completion: every user turn opens with bos and the
// text "[INST] ... [/INST]", an answer follows as " answer " and closes with
// eos, and the system prompt joins the first user turn in <<SYS>> markers.
std::vector<int> llama2(const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages) {
  bool has_system = messages[0].role == "system";
  size_t first = has_system ? 1 : 0;
  std::vector<int> ids;
  for (size_t i = first; i < messages.size(); i += 2) {
    std::string user = messages[i].content;
    if (has_system && i == first) {
      user = "<<SYS>>\n" + messages[0].content + "\n<</SYS>>\n\n" + user;
    }
    std::string text = "[INST] " + strip(user) + " [/INST]";
    bool answered = i + 1 < messages.size();
    if (answered) text += " " + strip(messages[i + 1].content) + " ";
    ids.push_back(tokenizer.bos_id());
    append(&ids, tokenizer.encode(text));
    if (answered) ids.push_back(tokenizer.eos_id());
  }
  return ids;
}

}  // namespace

StatusOr<std::vector<int>> Tokenizer::apply_chat_template(const std::vector<ChatMessage>& messages,
                                                          ChatTemplate chat_template,
                                                          bool add_generation_prompt) const {
  PCACHE_RETURN_IF_ERROR(validate(messages, add_generation_prompt));
  switch (chat_template) {
    case ChatTemplate::kMistral: return mistral(*this, messages);
    case ChatTemplate::kLlama2: return llama2(*this, messages);
  }
  return Status::invalid_argument("unknown chat template");
}

}  // namespace pcache
