#include "tokenizer/chat_turns.h"

#include "tokenizer/chat_format.h"

namespace pcache {
namespace {

std::vector<int> concat(std::vector<int> a, const std::vector<int>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

StatusOr<int> ChatTurns::control(const char* piece) const {
  auto id = tok_.piece_to_id(piece);
  if (!id || !tok_.is_control(*id)) {
    return Status::invalid_argument(std::string("the tokenizer has no ") + piece +
                                    " control token: use the llama2 chat template");
  }
  return *id;
}

StatusOr<std::vector<int>> ChatTurns::llama3_message(const std::string& role,
                                                     const std::string& text) const {
  using tokenizer_internal::special_token;
  PCACHE_ASSIGN_OR_RETURN(int start, special_token(tok_, "<|start_header_id|>", "llama3"));
  PCACHE_ASSIGN_OR_RETURN(int end, special_token(tok_, "<|end_header_id|>", "llama3"));
  return concat(concat(concat({start}, tok_.encode(role)), {end}), tok_.encode("\n\n" + text));
}

StatusOr<std::vector<int>> ChatTurns::chatml_open(const std::string& role,
                                                  const std::string& text) const {
  PCACHE_ASSIGN_OR_RETURN(int start, tokenizer_internal::special_token(tok_, "<|im_start|>", "chatml"));
  return concat({start}, tok_.encode(role + "\n" + text));
}

StatusOr<std::vector<int>> ChatTurns::message_start(const std::string& role) const {
  if (template_ == ChatTemplate::kLlama3) return llama3_message(role, "");
  if (template_ == ChatTemplate::kChatml) return chatml_open(role, "");
  return Status::invalid_argument(std::string("chat template ") + chat_template_name(template_) +
                                  " has no message headers");
}

StatusOr<std::vector<int>> ChatTurns::end_of_answer() const {
  using tokenizer_internal::special_token;
  if (template_ == ChatTemplate::kLlama3) {
    PCACHE_ASSIGN_OR_RETURN(int eot, special_token(tok_, "<|eot_id|>", "llama3"));
    return std::vector<int>{eot};
  }
  if (template_ == ChatTemplate::kChatml) {
    PCACHE_ASSIGN_OR_RETURN(int end, special_token(tok_, "<|im_end|>", "chatml"));
    return concat({end}, tok_.encode("\n"));
  }
  return std::vector<int>{tok_.eos_id()};
}

StatusOr<std::vector<int>> ChatTurns::start(const std::string& system) const {
  std::vector<int> ids = tok_.bos_ids();
  if (template_ == ChatTemplate::kLlama3) {
    auto preamble = tokenizer_internal::llama3_system_preamble(tok_.chat_template_text());
    if (!preamble && system.empty()) return ids;
    PCACHE_ASSIGN_OR_RETURN(auto message, llama3_message("system", preamble.value_or("") +
                                                                       tokenizer_internal::strip(system)));
    PCACHE_ASSIGN_OR_RETURN(auto end, end_of_answer());
    return concat(concat(ids, message), end);
  }
  if (template_ == ChatTemplate::kChatml) {
    auto text = system.empty() ? tokenizer_internal::chatml_default_system(tok_.chat_template_text())
                               : std::optional<std::string>(system);
    if (!text) return ids;
    PCACHE_ASSIGN_OR_RETURN(auto message, chatml_open("system", *text));
    PCACHE_ASSIGN_OR_RETURN(auto end, end_of_answer());
    return concat(concat(ids, message), end);
  }
  if (system.empty()) return ids;
  if (template_ == ChatTemplate::kMistral) {
    PCACHE_ASSIGN_OR_RETURN(int inst, control("[INST]"));
    return concat(concat(ids, {inst}), tok_.encode(system + "\n\n"));
  }
  return concat(ids, tok_.encode("[INST] <<SYS>>\n" + system + "\n<</SYS>>\n\n"));
}

StatusOr<std::vector<int>> ChatTurns::user(const std::string& text, bool open_turn,
                                           bool first_turn) const {
  if (template_ == ChatTemplate::kLlama3) {
    PCACHE_ASSIGN_OR_RETURN(auto message, llama3_message("user", tokenizer_internal::strip(text)));
    PCACHE_ASSIGN_OR_RETURN(auto end, end_of_answer());
    PCACHE_ASSIGN_OR_RETURN(auto prompt, llama3_message("assistant", ""));
    return concat(concat(message, end), prompt);
  }
  if (template_ == ChatTemplate::kChatml) {
    PCACHE_ASSIGN_OR_RETURN(auto message, chatml_open("user", text));
    PCACHE_ASSIGN_OR_RETURN(auto end, end_of_answer());
    PCACHE_ASSIGN_OR_RETURN(auto prompt, chatml_open("assistant", ""));
    return concat(concat(message, end), prompt);
  }
  if (template_ == ChatTemplate::kMistral) {
    PCACHE_ASSIGN_OR_RETURN(int inst, control("[INST]"));
    PCACHE_ASSIGN_OR_RETURN(int end, control("[/INST]"));
    return concat(concat(open_turn ? std::vector<int>{} : std::vector<int>{inst}, tok_.encode(text)),
                  {end});
  }
  if (open_turn) return tok_.encode(text + " [/INST]");
  std::vector<int> ids = first_turn ? std::vector<int>{} : std::vector<int>{tok_.bos_id()};
  return concat(ids, tok_.encode("[INST] " + text + " [/INST]"));
}

StatusOr<std::vector<int>> ChatTurns::answer(const std::string& text) const {
  PCACHE_ASSIGN_OR_RETURN(auto end, end_of_answer());
  return concat(tok_.encode(template_ == ChatTemplate::kLlama3 ? tokenizer_internal::strip(text) : text),
                end);
}

}  // namespace pcache
