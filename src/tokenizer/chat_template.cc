// Tokenizer::apply_chat_template: the Mistral v0.3, Llama-2, Llama 3 and
// ChatML (Qwen) chat formats, and the recognition of a checkpoint's Jinja
// template as one of them.
#include <optional>
#include <string>
#include <vector>

#include "pcache/tokenizer.h"
#include "tokenizer/chat_format.h"
#include "util/excerpt.h"

namespace pcache {

using tokenizer_internal::chatml_default_system;
using tokenizer_internal::llama3_system_preamble;
using tokenizer_internal::special_token;
using tokenizer_internal::strip;

namespace {

constexpr const char* kFamilies =
    "llama3 (Llama 3.x), chatml (Qwen 2 and 2.5), mistral, llama2";

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

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

// As Meta's Llama 3 templates: bos, then per message
// <|start_header_id|>role<|end_header_id|>\n\n{content|trim}<|eot_id|>, the
// system message inside 3.1's dated system header.
StatusOr<std::vector<int>> llama3(const Tokenizer& tokenizer,
                                  const std::vector<ChatMessage>& messages,
                                  bool add_generation_prompt) {
  PCACHE_ASSIGN_OR_RETURN(int start, special_token(tokenizer, "<|start_header_id|>", "llama3"));
  PCACHE_ASSIGN_OR_RETURN(int end, special_token(tokenizer, "<|end_header_id|>", "llama3"));
  PCACHE_ASSIGN_OR_RETURN(int eot, special_token(tokenizer, "<|eot_id|>", "llama3"));
  std::vector<int> ids = tokenizer.bos_ids();
  const auto header = [&](const std::string& role) {
    ids.push_back(start);
    append(&ids, tokenizer.encode(role));
    ids.push_back(end);
  };
  size_t first = 0;
  if (auto preamble = llama3_system_preamble(tokenizer.chat_template_text())) {
    const bool has_system = messages[0].role == "system";
    header("system");
    append(&ids, tokenizer.encode("\n\n" + *preamble +
                                  (has_system ? strip(messages[0].content) : "")));
    ids.push_back(eot);
    first = has_system ? 1 : 0;
  }
  for (size_t i = first; i < messages.size(); ++i) {
    header(messages[i].role);
    append(&ids, tokenizer.encode("\n\n" + strip(messages[i].content)));
    ids.push_back(eot);
  }
  if (add_generation_prompt) {
    header("assistant");
    append(&ids, tokenizer.encode("\n\n"));
  }
  return ids;
}

// ChatML as Qwen's templates: <|im_start|>role\ncontent<|im_end|>\n per
// message, the template's default system prompt first when the conversation
// has none.
StatusOr<std::vector<int>> chatml(const Tokenizer& tokenizer,
                                  const std::vector<ChatMessage>& messages,
                                  bool add_generation_prompt) {
  PCACHE_ASSIGN_OR_RETURN(int start, special_token(tokenizer, "<|im_start|>", "chatml"));
  PCACHE_ASSIGN_OR_RETURN(int end, special_token(tokenizer, "<|im_end|>", "chatml"));
  std::vector<int> ids;
  const auto message = [&](const std::string& role, const std::string& content) {
    // The "\n" after the previous <|im_end|> and the role line: one piece of text.
    ids.push_back(start);
    append(&ids, tokenizer.encode(role + "\n" + content));
    ids.push_back(end);
  };
  const auto newline = [&] { append(&ids, tokenizer.encode("\n")); };
  if (messages[0].role != "system") {
    if (auto system = chatml_default_system(tokenizer.chat_template_text())) {
      message("system", *system);
      newline();
    }
  }
  for (const ChatMessage& m : messages) {
    message(m.role, m.content);
    newline();
  }
  if (add_generation_prompt) {
    ids.push_back(start);
    append(&ids, tokenizer.encode("assistant\n"));
  }
  return ids;
}

}  // namespace

StatusOr<ChatTemplate> parse_chat_template(std::string_view name) {
  if (name == "mistral") return ChatTemplate::kMistral;
  if (name == "llama2") return ChatTemplate::kLlama2;
  if (name == "llama3") return ChatTemplate::kLlama3;
  if (name == "chatml") return ChatTemplate::kChatml;
  return Status::invalid_argument("unknown chat template '" + std::string(name) +
                                  "' (expected llama3, chatml, mistral or llama2)");
}

const char* chat_template_name(ChatTemplate t) {
  switch (t) {
    case ChatTemplate::kMistral: return "mistral";
    case ChatTemplate::kLlama2: return "llama2";
    case ChatTemplate::kLlama3: return "llama3";
    case ChatTemplate::kChatml: return "chatml";
  }
  return "unknown";
}

StatusOr<ChatTemplate> Tokenizer::default_chat_template() const {
  const std::string& jinja = chat_template_text();
  if (!jinja.empty()) {
    if (contains(jinja, "<|start_header_id|>")) return ChatTemplate::kLlama3;
    if (contains(jinja, "<|im_start|>")) return ChatTemplate::kChatml;
    if (contains(jinja, "[INST]")) {
      return contains(jinja, "<<SYS>>") ? ChatTemplate::kLlama2 : ChatTemplate::kMistral;
    }
    return Status::invalid_argument(chat_template_file() + ": chat template " + excerpt(jinja, 60) +
                                    " is of no family pcache implements (" + kFamilies +
                                    "); name one with --chat-template");
  }
  const auto has = [&](const char* piece) {
    auto id = piece_to_id(piece);
    return id && is_control(*id);
  };
  if (has("<|start_header_id|>") && has("<|eot_id|>")) return ChatTemplate::kLlama3;
  if (has("<|im_start|>") && has("<|im_end|>")) return ChatTemplate::kChatml;
  if (has("[INST]")) return ChatTemplate::kMistral;
  if (bos_id() >= 0 && eos_id() >= 0 && chat_template_file().empty()) return ChatTemplate::kLlama2;
  return Status::invalid_argument(
      "the tokenizer has no chat template and none of the special tokens of " +
      std::string(kFamilies) + "; name a template with --chat-template");
}

StatusOr<std::vector<int>> Tokenizer::apply_chat_template(const std::vector<ChatMessage>& messages,
                                                          ChatTemplate chat_template,
                                                          bool add_generation_prompt) const {
  PCACHE_RETURN_IF_ERROR(validate(messages, add_generation_prompt));
  switch (chat_template) {
    case ChatTemplate::kMistral: return mistral(*this, messages);
    case ChatTemplate::kLlama2: return llama2(*this, messages);
    case ChatTemplate::kLlama3: return llama3(*this, messages, add_generation_prompt);
    case ChatTemplate::kChatml: return chatml(*this, messages, add_generation_prompt);
  }
  return Status::invalid_argument("unknown chat template");
}

}  // namespace pcache
