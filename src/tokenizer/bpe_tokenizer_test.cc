// tokenizer.json tokenizers against Hugging Face: the Llama 3 and Qwen 2 style
// checkpoints of tests/fixtures/hf-variants, whose tokenizer_reference.json
// holds what tokenizers and transformers gave for tricky texts and
// conversations (tests/tools/bpe_reference.py).
#include <boost/test/unit_test.hpp>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pcache/tokenizer.h"
#include "tokenizer/tokenizer_testing.h"
#include "util/file_util.h"
#include "util/utf8.h"

namespace pcache {
namespace {

using json = nlohmann::json;
using testing::ok;
using testing::write_file;

const char* const kFolders[] = {"llama3-bpe-bf16", "qwen2-bpe-tied-fp32"};

std::string folder(const std::string& name) {
  return std::string(PCACHE_SOURCE_DIR) + "/tests/fixtures/hf-variants/" + name;
}

json reference(const std::string& name) {
  auto text = ok(read_file(folder(name) + "/tokenizer_reference.json", 16 << 20, "reference"));
  return json::parse(text);
}

std::unique_ptr<Tokenizer> load(const std::string& name) {
  return ok(Tokenizer::load(folder(name) + "/tokenizer.json"));
}

// The bytes a case encodes: "bytes_hex" when the text is not UTF-8.
std::string input_of(const json& c) {
  if (!c.contains("bytes_hex")) return c["text"].get<std::string>();
  const std::string hex = c["bytes_hex"].get<std::string>();
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return bytes;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += p;
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bpe_tokenizer_test)

BOOST_AUTO_TEST_CASE(encodes_every_reference_text_as_tokenizers_does) {
  for (const char* name : kFolders) {
    auto tok = load(name);
    const json ref = reference(name);
    BOOST_TEST_REQUIRE(ref["texts"].size() > 150u);  // the tricky ones and 120 random ones
    for (const json& c : ref["texts"]) {
      const std::string input = input_of(c);
      BOOST_TEST_CONTEXT(name << ": " << c["text"].dump()) {
        const auto ids = c["ids"].get<std::vector<int>>();
        BOOST_TEST(tok->encode(input) == ids, boost::test_tools::per_element());
        BOOST_TEST(
            tok->encode_with_special_tokens(input) == c["special_ids"].get<std::vector<int>>(),
            boost::test_tools::per_element());
        std::vector<std::string> pieces;
        for (int id : ids) pieces.push_back(tok->id_to_piece(id));
        BOOST_TEST(pieces == c["pieces"].get<std::vector<std::string>>(),
                   boost::test_tools::per_element());
        BOOST_TEST(tok->decode(ids) == c["decoded"].get<std::string>());
      }
    }
  }
}

// Token by token, the text never holds half a character, and it all adds up
// to the whole decoding.
BOOST_AUTO_TEST_CASE(streams_without_breaking_characters) {
  for (const char* name : kFolders) {
    auto tok = load(name);
    const json ref = reference(name);
    for (const json& c : ref["texts"]) {
      const auto ids = c["ids"].get<std::vector<int>>();
      TokenStreamDecoder decoder(*tok);
      std::vector<std::string> parts;
      for (int id : ids) parts.push_back(decoder.push(id));
      parts.push_back(decoder.flush());
      BOOST_TEST(join(parts) == c["decoded"].get<std::string>(), name << ": " << c["text"].dump());
      for (const std::string& p : parts) {
        BOOST_TEST(
            replace_invalid_utf8(p) == p,
            name << ": piece " << json(p).dump(-1, ' ', true, json::error_handler_t::replace));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(special_tokens_and_their_ids) {
  auto llama = load("llama3-bpe-bf16");
  BOOST_TEST(llama->bos_id() == *llama->piece_to_id("<|begin_of_text|>"));
  BOOST_TEST(llama->eos_id() == *llama->piece_to_id("<|eot_id|>"));
  BOOST_TEST(llama->is_control(llama->eos_id()));
  BOOST_TEST(!llama->is_control(*llama->piece_to_id("Ġthe")));
  BOOST_TEST(llama->vocab_size() == 2059);
  BOOST_TEST(llama->decode({llama->bos_id(), llama->eos_id()}) == "");
  BOOST_TEST(!llama->piece_to_id("<|no_such_token|>").has_value());
  BOOST_TEST(llama->id_to_piece(-1) == "");
  BOOST_TEST(llama->id_to_piece(llama->vocab_size()) == "");

  auto qwen = load("qwen2-bpe-tied-fp32");
  BOOST_TEST(qwen->bos_id() == -1);  // "bos_token": null
  BOOST_TEST(qwen->eos_id() == *qwen->piece_to_id("<|im_end|>"));
  // A non-special added token is text, not control: it decodes to itself.
  const int tool = *qwen->piece_to_id("<tool_call>");
  BOOST_TEST(!qwen->is_control(tool));
  BOOST_TEST(qwen->decode({tool}) == "<tool_call>");
}

BOOST_AUTO_TEST_CASE(chat_templates_are_recognised_from_the_checkpoint) {
  auto llama = load("llama3-bpe-bf16");
  BOOST_TEST(llama->chat_template_file() == folder("llama3-bpe-bf16") + "/chat_template.jinja");
  BOOST_TEST((ok(llama->default_chat_template()) == ChatTemplate::kLlama3));
  auto qwen = load("qwen2-bpe-tied-fp32");
  BOOST_TEST(qwen->chat_template_file() ==
             folder("qwen2-bpe-tied-fp32") + "/tokenizer_config.json");
  BOOST_TEST((ok(qwen->default_chat_template()) == ChatTemplate::kChatml));
}

// Each conversation in each template of the reference, with that template as
// the checkpoint's own: the ids of transformers' apply_chat_template.
BOOST_AUTO_TEST_CASE(conversations_equal_apply_chat_template) {
  testing::TempDir dir;
  int checked = 0;
  for (const char* name : kFolders) {
    const json ref = reference(name);
    std::filesystem::copy_file(folder(name) + "/tokenizer.json", dir.path + "/tokenizer.json",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(folder(name) + "/tokenizer_config.json",
                               dir.path + "/tokenizer_config.json",
                               std::filesystem::copy_options::overwrite_existing);
    for (const auto& [template_name, jinja] : ref["templates"].items()) {
      std::ofstream(dir.path + "/chat_template.jinja") << jinja.get<std::string>();
      auto tok = ok(Tokenizer::load(dir.path + "/tokenizer.json"));
      const ChatTemplate family = ok(tok->default_chat_template());
      for (const json& c : ref["chat"]) {
        if (c["template"] != template_name) continue;
        std::vector<ChatMessage> messages;
        for (const json& m : c["messages"]) messages.push_back({m["role"], m["content"]});
        auto ids = ok(tok->apply_chat_template(messages, family, c["add_generation_prompt"]));
        BOOST_TEST(ids == c["ids"].get<std::vector<int>>(), boost::test_tools::per_element());
        ++checked;
      }
    }
  }
  BOOST_TEST(checked >= 20);
}

// Llama 3.2's template dates the system header with strftime_now: today.
BOOST_AUTO_TEST_CASE(llama32_dates_the_system_header_today) {
  testing::TempDir dir;
  std::filesystem::copy_file(folder("llama3-bpe-bf16") + "/tokenizer.json",
                             dir.path + "/tokenizer.json");
  std::string jinja = reference("llama3-bpe-bf16")["templates"]["llama3.1"];
  const std::string fixed = "set date_string = \"26 Jul 2024\"";
  BOOST_TEST_REQUIRE(jinja.find(fixed) != std::string::npos);
  jinja.replace(jinja.find(fixed), fixed.size(), "set date_string = strftime_now(\"%d %b %Y\")");
  std::ofstream(dir.path + "/chat_template.jinja") << jinja;
  auto tok = ok(Tokenizer::load(dir.path + "/tokenizer.json"));
  const auto today = [] {
    char buf[32];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    std::strftime(buf, sizeof(buf), "%d %b %Y", &tm);
    return std::string("Today Date: ") + buf + "\n\n";
  };
  // Read before and after: a run across midnight sees one of the two.
  const std::string before = today();
  const std::string text =
      tok->decode(ok(tok->apply_chat_template({{"user", "Hi"}}, ChatTemplate::kLlama3, true)));
  const std::string after = today();
  BOOST_TEST((text.find(before) != std::string::npos || text.find(after) != std::string::npos),
             text);
}

BOOST_AUTO_TEST_CASE(an_unknown_chat_template_is_named_with_the_families_that_work) {
  testing::TempDir dir;
  std::filesystem::copy_file(folder("qwen2-bpe-tied-fp32") + "/tokenizer.json",
                             dir.path + "/tokenizer.json");
  std::ofstream(dir.path + "/chat_template.jinja")
      << "{% for m in messages %}### {{ m.content }}{% endfor %}";
  auto tok = ok(Tokenizer::load(dir.path + "/tokenizer.json"));
  auto family = tok->default_chat_template();
  BOOST_TEST_REQUIRE(!family.ok());
  BOOST_TEST(family.status().message().find(dir.path +
                                            "/chat_template.jinja: chat template \"{% for m") == 0u,
             family.status().message());
  BOOST_TEST(
      family.status().message().find(
          "llama3 (Llama 3.x), chatml (Qwen 2 and 2.5), mistral, llama2") != std::string::npos,
      family.status().message());
}

// Whatever tokenizer.json is not byte-level BPE, or is broken, is refused
// with the file and the part named.
BOOST_AUTO_TEST_CASE(unsupported_or_broken_files_are_named) {
  const auto error_of = [](const std::string& json_text) {
    auto r = Tokenizer::load(write_file("tokenizer.json", json_text));
    BOOST_TEST_REQUIRE(!r.ok());
    return r.status();
  };
  const std::string byte_level =
      R"("pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"})";
  Status s = error_of(R"({"model": {"type": "WordPiece", "vocab": {}}, )" + byte_level + "}");
  BOOST_TEST(s.code() == StatusCode::kUnsupported);
  BOOST_TEST(
      s.message().find("tokenizer.json: model: model of type \"WordPiece\"") != std::string::npos,
      s.message());
  s = error_of(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}, )" + byte_level +
               "}");
  BOOST_TEST(s.code() == StatusCode::kCorruption);
  BOOST_TEST(s.message().find("merge 0 (\"a\" \"b\"): \"b\" is not in the vocabulary") !=
                 std::string::npos,
             s.message());
  s = error_of(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["ab"]}, )" + byte_level +
               "}");
  BOOST_TEST(s.message().find("merge 0 \"ab\" is not two pieces") != std::string::npos,
             s.message());
  s = error_of(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                  "pre_tokenizer": {"type": "Metaspace"}, "decoder": {"type": "ByteLevel"}})");
  BOOST_TEST(s.code() == StatusCode::kUnsupported);
  BOOST_TEST(
      s.message().find("pre_tokenizer: pre-tokenizer of type \"Metaspace\"") != std::string::npos,
      s.message());
  s = error_of(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                  "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"},
                  "decoder": {"type": "ByteLevel"}})");
  BOOST_TEST(s.code() == StatusCode::kInvalidArgument);
  BOOST_TEST(s.message().find("regex \"(a\" at offset 2") != std::string::npos, s.message());
  s = error_of(
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "byte_fallback": true}, )" +
      byte_level + "}");
  BOOST_TEST(s.message().find("byte_fallback") != std::string::npos, s.message());
  s = error_of(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, )" + byte_level +
               R"(, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}],
                  "special_tokens": {"<s>": {"ids": [7]}}}})");
  BOOST_TEST(s.message().find("template token \"<s>\" has id 7, outside the vocabulary of 1") !=
                 std::string::npos,
             s.message());
  s = error_of("[1, 2");
  BOOST_TEST(s.code() == StatusCode::kCorruption);
  auto missing = Tokenizer::load(testing::scratch_dir() + "/no-such-folder/tokenizer.json");
  BOOST_TEST(missing.status().code() == StatusCode::kNotFound);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
