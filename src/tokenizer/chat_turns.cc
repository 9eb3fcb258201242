#include "tokenizer/chat_turns.h"

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

StatusOr<std::vector<int>> ChatTurns::start(const std::string& system) const {
  std::vector<int> ids = {tok_.bos_id()};
  if (system.empty()) return ids;
  if (template_ == ChatTemplate::kMistral) {
    PCACHE_ASSIGN_OR_RETURN(int inst, control("[INST]"));
    return concat(concat(ids, {inst}), tok_.encode(system + "\n\n"));
  }
  return concat(ids, tok_.encode("[INST] <<SYS>>\n" + system + "\n<</SYS>>\n\n"));
}

StatusOr<std::vector<int>> ChatTurns::user(const std::string& text, bool open_turn,
                                           bool first_turn) const {
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

std::vector<int> ChatTurns::answer(const std::string& text) const {
  return concat(tok_.encode(text), {tok_.eos_id()});
}

}  // namespace pcache
