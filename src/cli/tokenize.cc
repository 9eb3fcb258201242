// pcache tokenize: what a model's tokenizer makes of a text or a conversation,
// as llama.cpp's llama-tokenize, for users checking a model and for tests.
//   pcache tokenize --model DIR TEXT        [1, 2, 3]
//   pcache tokenize --model DIR --file F    the file's whole text as one string
//   --pieces                                {"ids": [...], "pieces": [...]}
//   --special                               special tokens in the text are their
//                                           ids, and bos (etc.) are added
//   pcache tokenize --model DIR --messages M.json
//                                           {"text": ..., "ids": [...]}: the chat
//                                           template with the generation prompt
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "pcache/tokenizer.h"

namespace pcache::cli {
namespace {

using json = nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// [{"role": ..., "content": "..."}, ...], or {"messages": [...]}.
StatusOr<std::vector<ChatMessage>> read_messages(const std::string& path) {
  PCACHE_ASSIGN_OR_RETURN(const std::string text, read_text(path, "messages file"));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::invalid_argument(path + ": not valid JSON");
  if (j.is_object() && j.contains("messages")) j = j["messages"];
  if (!j.is_array()) {
    return Status::invalid_argument(path +
                                    ": expected a list of messages (or {\"messages\": [...]})");
  }
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i < j.size(); ++i) {
    const json& m = j[i];
    const std::string where = path + ": message " + std::to_string(i);
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return Status::invalid_argument(where + ": no \"role\" string");
    }
    if (!m.contains("content") || !m["content"].is_string()) {
      return Status::invalid_argument(where + ": \"content\" is not a string");
    }
    messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  return messages;
}

// The text of ids with special tokens written out, as transformers renders a
// chat template: runs of ordinary ids decoded together.
std::string text_of(const Tokenizer& tok, const std::vector<int>& ids) {
  std::string out;
  std::vector<int> run;
  for (int id : ids) {
    if (!tok.is_control(id)) {
      run.push_back(id);
      continue;
    }
    out += tok.decode(run) + tok.id_to_piece(id);
    run.clear();
  }
  return out + tok.decode(run);
}

}  // namespace

int run_tokenize(CommonOptions& common, const TokenizeOptions& o) {
  const int inputs = !o.text.empty() + !o.file.empty() + !o.messages.empty();
  if (inputs != 1) {
    return report(Status::invalid_argument("tokenize: give one of TEXT, --file or --messages"));
  }
  auto dir = common.model_folder();
  if (!dir.ok()) return report(dir.status());
  const std::string path =
      common.engine.tokenizer.empty() ? Tokenizer::path_in(*dir) : common.engine.tokenizer;
  auto tok = Tokenizer::load(path);
  if (!tok.ok()) return report(tok.status());
  if (!o.messages.empty()) {
    auto messages = read_messages(o.messages);
    if (!messages.ok()) return report(messages.status());
    auto family = common.engine.chat_template == "auto"
                      ? (*tok)->default_chat_template()
                      : parse_chat_template(common.engine.chat_template);
    if (!family.ok()) return report(family.status());
    auto ids = (*tok)->apply_chat_template(*messages, *family, /*add_generation_prompt=*/true);
    if (!ids.ok()) return report(ids.status());
    std::printf("%s\n", dump({{"text", text_of(**tok, *ids)}, {"ids", *ids}}).c_str());
    return 0;
  }
  std::string text = o.text;
  if (!o.file.empty()) {
    auto read = read_text(o.file, "text file");
    if (!read.ok()) return report(read.status());
    text = std::move(*read);
  }
  const std::vector<int> ids =
      o.special ? (*tok)->encode_with_special_tokens(text) : (*tok)->encode(text);
  if (!o.pieces) {
    std::printf("%s\n", dump(ids).c_str());
    return 0;
  }
  json pieces = json::array();
  for (int id : ids) pieces.push_back((*tok)->id_to_piece(id));
  std::printf("%s\n", dump({{"ids", ids}, {"pieces", pieces}}).c_str());
  return 0;
}

}  // namespace pcache::cli
