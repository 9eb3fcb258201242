#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/bpe_model.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/regex_splitter.h"
#include "tokenizer/unicode_normalizer.h"
#include "util/excerpt.h"
#include "util/file_util.h"
#include "util/json_util.h"
#include "util/utf8.h"

namespace pcache::tokenizer_internal {
namespace {

using json = nlohmann::json;

// GPT-2's pre-tokenizer regex: what ByteLevel splits with when use_regex is on.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct AddedToken {
  std::string content;
  int id = 0;
  bool special = false;
};

class BpeTokenizer final : public Tokenizer::Impl {
 public:
  std::vector<int> encode(std::string_view text, bool special) const override;
  std::string decode(const std::vector<int>& ids) const override;
  std::optional<int> piece_to_id(std::string_view piece) const override;
  std::string id_to_piece(int id) const override;
  bool is_control(int id) const override;

  std::vector<NormalForm> normalizers;
  std::vector<RegexSplitter> splits;  // the Split steps, in order
  bool add_prefix_space = false;      // ByteLevel's, per piece
  std::optional<RegexSplitter> byte_level_split;
  BpeModel model;
  std::vector<AddedToken> added;  // longest first
  std::array<std::vector<size_t>, 256> added_by_first_byte;
  std::unordered_map<std::string, int> added_ids;
  std::vector<std::string> pieces;  // by id; "" where no piece has the id
  std::vector<bool> special;        // by id
  std::vector<int> prefix, suffix;  // the post-processor's tokens around a sequence

 private:
  void encode_segment(std::string_view text, std::vector<int>* ids) const;
};

void BpeTokenizer::encode_segment(std::string_view text, std::vector<int>* ids) const {
  if (text.empty()) return;
  std::vector<std::string> parts = {std::string(text)};
  for (NormalForm form : normalizers) parts[0] = normalize(parts[0], form);
  for (const RegexSplitter& splitter : splits) {
    std::vector<std::string> next;
    for (const std::string& part : parts) {
      for (std::string_view piece : splitter.split(part)) next.emplace_back(piece);
    }
    parts = std::move(next);
  }
  for (std::string& part : parts) {
    if (add_prefix_space && (part.empty() || part[0] != ' ')) part.insert(0, " ");
    if (byte_level_split) {
      for (std::string_view piece : byte_level_split->split(part)) {
        model.encode(byte_level_encode(piece), ids);
      }
    } else {
      model.encode(byte_level_encode(part), ids);
    }
  }
}

std::vector<int> BpeTokenizer::encode(std::string_view text, bool parse_special) const {
  const std::string valid = replace_invalid_utf8(text);
  std::vector<int> ids;
  if (parse_special) ids = prefix;
  // Added tokens cut the text, leftmost first and the longest there (as
  // tokenizers' Aho-Corasick in LeftmostLongest mode).
  size_t segment = 0;
  for (size_t i = 0; i < valid.size();) {
    const AddedToken* found = nullptr;
    for (size_t index : added_by_first_byte[static_cast<unsigned char>(valid[i])]) {
      const AddedToken& t = added[index];
      if ((parse_special || !t.special) && valid.compare(i, t.content.size(), t.content) == 0) {
        found = &t;
        break;
      }
    }
    if (found == nullptr) {
      ++i;
      continue;
    }
    encode_segment(std::string_view(valid).substr(segment, i - segment), &ids);
    ids.push_back(found->id);
    i += found->content.size();
    segment = i;
  }
  encode_segment(std::string_view(valid).substr(segment), &ids);
  if (parse_special) ids.insert(ids.end(), suffix.begin(), suffix.end());
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<int>& ids) const {
  std::string bytes;
  for (int id : ids) {
    if (id < 0 || id >= vocab_size || special[id]) continue;
    // A piece outside the byte alphabet (an added token's text) is its own bytes.
    if (!byte_level_decode(pieces[id], &bytes)) bytes += pieces[id];
  }
  return replace_invalid_utf8(bytes);
}

std::optional<int> BpeTokenizer::piece_to_id(std::string_view piece) const {
  if (auto it = added_ids.find(std::string(piece)); it != added_ids.end()) return it->second;
  return model.id(piece);
}

std::string BpeTokenizer::id_to_piece(int id) const {
  return id >= 0 && id < vocab_size ? pieces[id] : std::string();
}

bool BpeTokenizer::is_control(int id) const { return id >= 0 && id < vocab_size && special[id]; }

// ---- reading tokenizer.json ----

Status corrupt(const std::string& source, const std::string& what) {
  return Status::corruption(source + ": " + what);
}

Status unsupported(const std::string& source, const std::string& what) {
  return Status::unsupported(source + ": " + what +
                             " (pcache reads byte-level BPE tokenizers: docs/formats.md, "
                             "\"tokenizer.json\")");
}

// obj[key] as T; `required` or absent/null gives `fallback`.
template <typename T>
Status get(const json& obj, const char* key, const std::string& where, T* out, bool required) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return corrupt(where, std::string("missing key \"") + key + "\"");
    return Status::ok_status();
  }
  try {
    *out = it->get<T>();
  } catch (const json::exception&) {
    return corrupt(where, std::string("key \"") + key + "\" has value " + json_excerpt(*it) +
                              " of the wrong type");
  }
  return Status::ok_status();
}

std::string type_of(const json& j) {
  auto it = j.find("type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Status read_normalizer(const json& j, const std::string& where, BpeTokenizer* t) {
  if (j.is_null()) return Status::ok_status();
  if (!j.is_object()) return corrupt(where, "not an object");
  const std::string type = type_of(j);
  if (type == "Sequence") {
    auto it = j.find("normalizers");
    if (it == j.end() || !it->is_array()) return corrupt(where, "Sequence without \"normalizers\"");
    for (size_t i = 0; i < it->size(); ++i) {
      PCACHE_RETURN_IF_ERROR(read_normalizer((*it)[i], where + "[" + std::to_string(i) + "]", t));
    }
    return Status::ok_status();
  }
  static const std::pair<const char*, NormalForm> kForms[] = {{"NFC", NormalForm::kNfc},
                                                              {"NFD", NormalForm::kNfd},
                                                              {"NFKC", NormalForm::kNfkc},
                                                              {"NFKD", NormalForm::kNfkd}};
  for (const auto& [name, form] : kForms) {
    if (type == name) {
      t->normalizers.push_back(form);
      return Status::ok_status();
    }
  }
  return unsupported(where, "normalizer of type " + excerpt(type));
}

// One pre-tokenizer; `byte_level`: a ByteLevel was read (it must be last).
Status read_pre_tokenizer(const json& j, const std::string& where, bool* byte_level,
                          BpeTokenizer* t) {
  if (!j.is_object()) return corrupt(where, "not an object");
  if (*byte_level) return unsupported(where, "a pre-tokenizer after ByteLevel");
  const std::string type = type_of(j);
  if (type == "Sequence") {
    auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) {
      return corrupt(where, "Sequence without \"pretokenizers\"");
    }
    for (size_t i = 0; i < it->size(); ++i) {
      PCACHE_RETURN_IF_ERROR(
          read_pre_tokenizer((*it)[i], where + "[" + std::to_string(i) + "]", byte_level, t));
    }
    return Status::ok_status();
  }
  if (type == "Split") {
    std::string behavior;
    bool invert = false;
    PCACHE_RETURN_IF_ERROR(get(j, "behavior", where, &behavior, true));
    PCACHE_RETURN_IF_ERROR(get(j, "invert", where, &invert, false));
    if (behavior != "Isolated" || invert) {
      return unsupported(where, "Split with behavior " + excerpt(behavior) +
                                    (invert ? " inverted" : "") + " (only Isolated)");
    }
    auto pattern = j.find("pattern");
    if (pattern == j.end() || !pattern->is_object())
      return corrupt(where, "Split without a pattern");
    std::string regex;
    PCACHE_RETURN_IF_ERROR(get(*pattern, "Regex", where + ".pattern", &regex, false));
    if (regex.empty()) {
      return unsupported(where,
                         "Split on a pattern that is not a regex: " + json_excerpt(*pattern));
    }
    PCACHE_ASSIGN_OR_RETURN(RegexSplitter splitter, RegexSplitter::compile(regex, where));
    t->splits.push_back(std::move(splitter));
    return Status::ok_status();
  }
  if (type == "ByteLevel") {
    bool use_regex = true;
    PCACHE_RETURN_IF_ERROR(get(j, "add_prefix_space", where, &t->add_prefix_space, false));
    PCACHE_RETURN_IF_ERROR(get(j, "use_regex", where, &use_regex, false));
    if (use_regex) {
      PCACHE_ASSIGN_OR_RETURN(RegexSplitter splitter, RegexSplitter::compile(kGpt2Pattern, where));
      t->byte_level_split = std::move(splitter);
    }
    *byte_level = true;
    return Status::ok_status();
  }
  return unsupported(where, "pre-tokenizer of type " + excerpt(type));
}

// The special tokens a TemplateProcessing puts around a single sequence.
Status read_template(const json& j, const std::string& where, BpeTokenizer* t) {
  auto single = j.find("single");
  auto tokens = j.find("special_tokens");
  if (single == j.end() || !single->is_array()) return corrupt(where, "no \"single\" template");
  bool after = false;
  for (const json& item : *single) {
    if (item.contains("Sequence")) {
      after = true;
      continue;
    }
    std::string name;
    if (!item.contains("SpecialToken") || !item["SpecialToken"].is_object()) {
      return corrupt(where, "template item " + json_excerpt(item));
    }
    PCACHE_RETURN_IF_ERROR(get(item["SpecialToken"], "id", where, &name, true));
    std::vector<int> ids;
    if (tokens != j.end() && tokens->is_object() && tokens->contains(name)) {
      PCACHE_RETURN_IF_ERROR(get((*tokens)[name], "ids", where + ".special_tokens", &ids, true));
    } else if (auto id = t->piece_to_id(name)) {
      ids = {*id};
    } else {
      return corrupt(where, "template token " + excerpt(name) + " is not in the vocabulary");
    }
    for (int id : ids) {
      if (id < 0 || id >= t->vocab_size) {
        return corrupt(where, "template token " + excerpt(name) + " has id " + std::to_string(id) +
                                  ", outside the vocabulary of " + std::to_string(t->vocab_size));
      }
    }
    std::vector<int>& out = after ? t->suffix : t->prefix;
    out.insert(out.end(), ids.begin(), ids.end());
  }
  return Status::ok_status();
}

Status read_post_processor(const json& j, const std::string& where, BpeTokenizer* t) {
  if (j.is_null()) return Status::ok_status();
  if (!j.is_object()) return corrupt(where, "not an object");
  const std::string type = type_of(j);
  if (type == "Sequence") {
    auto it = j.find("processors");
    if (it == j.end() || !it->is_array()) return corrupt(where, "Sequence without \"processors\"");
    for (size_t i = 0; i < it->size(); ++i) {
      PCACHE_RETURN_IF_ERROR(
          read_post_processor((*it)[i], where + "[" + std::to_string(i) + "]", t));
    }
    return Status::ok_status();
  }
  if (type == "ByteLevel") return Status::ok_status();  // offsets only
  if (type == "TemplateProcessing") return read_template(j, where, t);
  return unsupported(where, "post-processor of type " + excerpt(type));
}

Status read_model(const json& j, const std::string& where, BpeTokenizer* t,
                  std::unordered_map<std::string, int>* vocab) {
  if (!j.is_object()) return corrupt(where, "missing or not an object");
  const std::string type = type_of(j);
  if (!type.empty() && type != "BPE") return unsupported(where, "model of type " + excerpt(type));
  bool byte_fallback = false;
  std::string prefix, suffix, unk;
  std::optional<double> dropout;
  BpeModel::Options options;
  PCACHE_RETURN_IF_ERROR(get(j, "byte_fallback", where, &byte_fallback, false));
  PCACHE_RETURN_IF_ERROR(get(j, "continuing_subword_prefix", where, &prefix, false));
  PCACHE_RETURN_IF_ERROR(get(j, "end_of_word_suffix", where, &suffix, false));
  PCACHE_RETURN_IF_ERROR(get(j, "unk_token", where, &unk, false));
  PCACHE_RETURN_IF_ERROR(get(j, "ignore_merges", where, &options.ignore_merges, false));
  if (auto d = j.find("dropout"); d != j.end() && !d->is_null()) {
    if (!d->is_number()) return corrupt(where, "key \"dropout\" is not a number");
    dropout = d->get<double>();
  }
  if (byte_fallback) return unsupported(where, "BPE with byte_fallback (SentencePiece style)");
  if (!prefix.empty() || !suffix.empty()) {
    return unsupported(where, "BPE with a continuing_subword_prefix or end_of_word_suffix");
  }
  if (dropout && *dropout > 0 && *dropout < 1) return unsupported(where, "BPE dropout");

  auto v = j.find("vocab");
  if (v == j.end() || !v->is_object()) return corrupt(where, "no \"vocab\" object");
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() > kMaxTokenId) {
      return corrupt(where + ".vocab", excerpt(it.key()) + " has id " + json_excerpt(it.value()));
    }
    (*vocab)[it.key()] = it.value().get<int>();
  }
  auto m = j.find("merges");
  if (m == j.end() || !m->is_array()) return corrupt(where, "no \"merges\" list");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(m->size());
  for (size_t i = 0; i < m->size(); ++i) {
    const json& merge = (*m)[i];
    if (merge.is_string()) {  // the older form: "left right"
      const std::string s = merge.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        return corrupt(where, "merge " + std::to_string(i) + " " + excerpt(s) +
                                  " is not two pieces separated by one space");
      }
      merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) {
      merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      return corrupt(where, "merge " + std::to_string(i) + " is " + json_excerpt(merge) +
                                " (expected \"left right\" or [left, right])");
    }
  }
  if (!unk.empty()) {
    auto u = vocab->find(unk);
    if (u == vocab->end())
      return corrupt(where, "unk_token " + excerpt(unk) + " is not in the vocabulary");
    options.unk_id = u->second;
    t->unk_id = u->second;
  }
  PCACHE_ASSIGN_OR_RETURN(t->model, BpeModel::build(*vocab, merges, options, where));
  return Status::ok_status();
}

Status read_added_tokens(const json& j, const std::string& where, BpeTokenizer* t) {
  if (j.is_null()) return Status::ok_status();
  if (!j.is_array()) return corrupt(where, "not a list");
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!j[i].is_object()) return corrupt(at, "not an object");
    AddedToken token;
    bool lstrip = false, rstrip = false, single_word = false, normalized = false;
    PCACHE_RETURN_IF_ERROR(get(j[i], "id", at, &token.id, true));
    PCACHE_RETURN_IF_ERROR(get(j[i], "content", at, &token.content, true));
    PCACHE_RETURN_IF_ERROR(get(j[i], "special", at, &token.special, false));
    PCACHE_RETURN_IF_ERROR(get(j[i], "lstrip", at, &lstrip, false));
    PCACHE_RETURN_IF_ERROR(get(j[i], "rstrip", at, &rstrip, false));
    PCACHE_RETURN_IF_ERROR(get(j[i], "single_word", at, &single_word, false));
    PCACHE_RETURN_IF_ERROR(get(j[i], "normalized", at, &normalized, false));
    if (token.id < 0 || token.id > kMaxTokenId || token.content.empty()) {
      return corrupt(at, "id " + std::to_string(token.id) + " content " + excerpt(token.content));
    }
    if (lstrip || rstrip || single_word ||
        (normalized && !token.special && !t->normalizers.empty())) {
      return unsupported(at, "added token " + excerpt(token.content) +
                                 " with lstrip, rstrip, single_word or normalized matching");
    }
    t->added_ids[token.content] = token.id;
    t->added.push_back(std::move(token));
  }
  std::stable_sort(t->added.begin(), t->added.end(), [](const AddedToken& a, const AddedToken& b) {
    return a.content.size() > b.content.size();
  });
  for (size_t i = 0; i < t->added.size(); ++i) {
    t->added_by_first_byte[static_cast<unsigned char>(t->added[i].content[0])].push_back(i);
  }
  return Status::ok_status();
}

// tokenizer_config.json's "bos_token": a string, {"content": ...} or null.
Status read_token(const json& config, const char* key, const std::string& where,
                  const BpeTokenizer& t, int* id) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return Status::ok_status();
  const json& value = it->is_object() && it->contains("content") ? (*it)["content"] : *it;
  if (!value.is_string()) {
    return corrupt(where, std::string("key \"") + key + "\" is " + json_excerpt(*it));
  }
  auto found = t.piece_to_id(value.get<std::string>());
  if (!found) {
    return corrupt(where, std::string(key) + " " + excerpt(value.get<std::string>()) +
                              " is not in the vocabulary");
  }
  *id = *found;
  return Status::ok_status();
}

// The checkpoint's chat template: chat_template.jinja, else tokenizer_config's
// "chat_template" (a string, or a list of {name, template} of which "default").
Status read_chat_template(const json& config, const std::string& dir, const std::string& where,
                          BpeTokenizer* t) {
  const std::string jinja = dir + "/chat_template.jinja";
  if (std::filesystem::exists(jinja)) {
    PCACHE_ASSIGN_OR_RETURN(t->chat_template,
                            read_file(jinja, kMaxChatTemplateBytes, "chat template"));
    t->chat_template_file = jinja;
    return Status::ok_status();
  }
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return Status::ok_status();
  t->chat_template_file = where;
  if (it->is_string()) {
    t->chat_template = it->get<std::string>();
    return Status::ok_status();
  }
  if (it->is_array()) {
    for (const json& named : *it) {
      if (named.is_object() && named.value("name", "") == "default" && named.contains("template") &&
          named["template"].is_string()) {
        t->chat_template = named["template"].get<std::string>();
        return Status::ok_status();
      }
    }
  }
  return corrupt(where, "key \"chat_template\" is neither a string nor a list with a \"default\"");
}

}  // namespace

StatusOr<std::unique_ptr<Tokenizer::Impl>> load_bpe_tokenizer(const std::string& path) {
  PCACHE_ASSIGN_OR_RETURN(std::string text, read_file(path, kMaxTokenizerFileBytes, "tokenizer"));
  PCACHE_ASSIGN_OR_RETURN(json j, parse_json(text, path));
  if (!j.is_object()) return corrupt(path, "not a JSON object");
  auto t = std::make_unique<BpeTokenizer>();
  // The normalizer first: whether added tokens may be "normalized" depends on it.
  PCACHE_RETURN_IF_ERROR(
      read_normalizer(j.value("normalizer", json()), path + ": normalizer", t.get()));
  std::unordered_map<std::string, int> vocab;
  PCACHE_RETURN_IF_ERROR(read_model(j.value("model", json()), path + ": model", t.get(), &vocab));
  PCACHE_RETURN_IF_ERROR(
      read_added_tokens(j.value("added_tokens", json()), path + ": added_tokens", t.get()));
  bool byte_level = false;
  const json pre = j.value("pre_tokenizer", json());
  if (!pre.is_null()) {
    PCACHE_RETURN_IF_ERROR(read_pre_tokenizer(pre, path + ": pre_tokenizer", &byte_level, t.get()));
  }
  if (!byte_level) return unsupported(path + ": pre_tokenizer", "no ByteLevel pre-tokenizer");
  const json decoder = j.value("decoder", json());
  if (type_of(decoder) != "ByteLevel") {
    return unsupported(path + ": decoder",
                       "decoder " + json_excerpt(decoder) + " (only ByteLevel)");
  }

  // The vocabulary by id: the model's pieces and the added tokens.
  int size = 0;
  for (const auto& [piece, id] : vocab) size = std::max(size, id + 1);
  for (const AddedToken& a : t->added) size = std::max(size, a.id + 1);
  t->vocab_size = size;
  t->pieces.assign(size, std::string());
  t->special.assign(size, false);
  for (const auto& [piece, id] : vocab) t->pieces[id] = piece;
  for (const AddedToken& a : t->added) {
    t->pieces[a.id] = a.content;
    t->special[a.id] = a.special;
  }
  for (int id = 0; id < size; ++id) {
    std::string bytes;
    if (!byte_level_decode(t->pieces[id], &bytes)) bytes = t->pieces[id];
    t->max_piece_bytes = std::max<int64_t>(t->max_piece_bytes, static_cast<int64_t>(bytes.size()));
  }
  PCACHE_RETURN_IF_ERROR(
      read_post_processor(j.value("post_processor", json()), path + ": post_processor", t.get()));
  if (!t->prefix.empty()) t->bos_id = t->prefix[0];

  // tokenizer_config.json beside it: bos, eos and the chat template.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const std::string config_path = (dir.empty() ? std::string(".") : dir) + "/tokenizer_config.json";
  json config = json::object();
  if (std::filesystem::exists(config_path)) {
    PCACHE_ASSIGN_OR_RETURN(std::string config_text,
                            read_file(config_path, kMaxTokenizerConfigBytes, "tokenizer config"));
    PCACHE_ASSIGN_OR_RETURN(config, parse_json(config_text, config_path));
    if (!config.is_object()) return corrupt(config_path, "not a JSON object");
  }
  if (config.contains("bos_token")) {
    t->bos_id = -1;
    PCACHE_RETURN_IF_ERROR(read_token(config, "bos_token", config_path, *t, &t->bos_id));
  }
  PCACHE_RETURN_IF_ERROR(read_token(config, "eos_token", config_path, *t, &t->eos_id));
  PCACHE_RETURN_IF_ERROR(read_chat_template(config, dir.empty() ? "." : dir, config_path, t.get()));
  return std::unique_ptr<Tokenizer::Impl>(std::move(t));
}

}  // namespace pcache::tokenizer_internal
