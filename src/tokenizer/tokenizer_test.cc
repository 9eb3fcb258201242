#include "pcache/tokenizer.h"

#include <ATen/ATen.h>

#include <boost/test/unit_test.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tokenizer/tokenizer_testing.h"

namespace pcache {
namespace {

using testing::ascii_tokenizer;
using testing::mistral_tokenizer;
using testing::write_file;
using Ids = std::vector<int>;

}  // namespace

BOOST_AUTO_TEST_SUITE(tokenizer_test)

BOOST_AUTO_TEST_CASE(mistral_specials) {
  const Tokenizer& t = mistral_tokenizer();
  BOOST_TEST(t.vocab_size() == 32768);
  BOOST_TEST(t.unk_id() == 0);
  BOOST_TEST(t.bos_id() == 1);
  BOOST_TEST(t.eos_id() == 2);
  BOOST_TEST(t.id_to_piece(0) == "<unk>");
  BOOST_TEST(t.id_to_piece(1) == "<s>");
  BOOST_TEST(t.id_to_piece(2) == "</s>");
  BOOST_TEST(!t.is_control(0));
  BOOST_TEST(t.is_control(1));
  BOOST_TEST(t.is_control(2));
  BOOST_TEST(!t.is_control(7080));
  BOOST_TEST(t.id_to_piece(-1) == "");
  BOOST_TEST(t.id_to_piece(32768) == "");
  BOOST_TEST(!t.is_control(32768));
}

BOOST_AUTO_TEST_CASE(piece_to_id_finds_control_and_known_pieces) {
  const Tokenizer& t = mistral_tokenizer();
  BOOST_TEST(t.piece_to_id("[INST]").value_or(-1) == 3);
  BOOST_TEST(t.piece_to_id("[/INST]").value_or(-1) == 4);
  BOOST_TEST(t.is_control(3));
  BOOST_TEST(t.is_control(4));
  BOOST_TEST(t.piece_to_id("\xE2\x96\x81hell").value_or(-1) == 7080);
  // unk only when asked for by name; other unknown pieces are absent.
  BOOST_TEST(t.piece_to_id("<unk>").value_or(-1) == 0);
  BOOST_TEST(!t.piece_to_id("no-such-piece").has_value());
  BOOST_TEST(!t.piece_to_id("").has_value());
  BOOST_TEST(std::string(chat_template_name(testing::ok(t.default_chat_template()))) == "mistral");
}

BOOST_AUTO_TEST_CASE(encode_never_produces_control_ids) {
  const Tokenizer& t = mistral_tokenizer();
  BOOST_TEST(t.encode("[INST]") == (Ids{1501, 17057, 29561}), boost::test_tools::per_element());
  for (const char* text : {"[INST] hi [/INST]", "<s>x</s>"}) {
    for (int id : t.encode(text)) BOOST_TEST(!t.is_control(id), text << " gave " << id);
  }
}

BOOST_AUTO_TEST_CASE(round_trips_ascii_and_multibyte) {
  const Tokenizer& t = mistral_tokenizer();
  BOOST_TEST(t.encode("hello world") == (Ids{7080, 29477, 2294}), boost::test_tools::per_element());
  BOOST_TEST(t.decode({7080, 29477, 2294}) == "hello world");
  BOOST_TEST(t.encode("").empty());
  BOOST_TEST(t.decode({}) == "");
  // héllo wörld 你好 🙂
  const std::string multibyte =
      "h\xC3\xA9llo w\xC3\xB6rld \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x99\x82";
  for (const std::string& text :
       {multibyte, std::string("a\n\nb"), std::string("  two  spaces ")}) {
    BOOST_TEST(t.decode(t.encode(text)) == text);
  }
}

BOOST_AUTO_TEST_CASE(byte_fallback_round_trips) {
  const Tokenizer& t = mistral_tokenizer();
  const std::string flamingo = "\xF0\x9F\xA6\xA9";  // 🦩: not in the vocabulary
  Ids ids = t.encode(flamingo);
  BOOST_TEST(ids == (Ids{29473, 1011, 930, 937, 940}), boost::test_tools::per_element());
  BOOST_TEST(t.id_to_piece(1011) == "<0xF0>");
  BOOST_TEST(t.decode(ids) == flamingo);
}

BOOST_AUTO_TEST_CASE(decode_drops_control_and_out_of_range_ids) {
  const Tokenizer& t = mistral_tokenizer();
  BOOST_TEST(t.decode({1, 7080, 29477, 2}) == "hello");
  BOOST_TEST(t.decode({7080, -1, 32768, 1 << 30, 29477}) == "hello");
}

BOOST_AUTO_TEST_CASE(missing_file_is_not_found) {
  auto loaded = Tokenizer::load("/nonexistent/tokenizer.model");
  BOOST_TEST_REQUIRE(!loaded.ok());
  BOOST_TEST(loaded.status().code() == StatusCode::kNotFound);
  BOOST_TEST(loaded.status().message().find("/nonexistent/tokenizer.model") != std::string::npos);
  // A folder, a FIFO or a device never reaches SentencePiece (which would block on a FIFO).
  auto folder = Tokenizer::load(testing::scratch_dir());
  BOOST_TEST(folder.status().code() == StatusCode::kIoError);
  BOOST_TEST(folder.status().message().find("is a directory, not a regular file") != std::string::npos);
  BOOST_TEST(Tokenizer::load("/dev/zero").status().code() == StatusCode::kIoError);
}

BOOST_AUTO_TEST_CASE(garbage_files_are_corruption) {
  std::string random(4096, '\0');
  for (size_t i = 0; i < random.size(); ++i) random[i] = static_cast<char>(i * 2654435761u >> 13);
  testing::ModelProtoWriter no_unk;  // a valid protobuf, but no model
  no_unk.add_piece("a", 1);
  for (const std::string& bytes :
       {random, std::string("not a model\n"), std::string(), no_unk.bytes()}) {
    std::string path = write_file("tokenizer.model", bytes);
    auto loaded = Tokenizer::load(path);
    BOOST_TEST_REQUIRE(!loaded.ok(), "loaded " << bytes.size() << " bytes of garbage");
    BOOST_TEST(loaded.status().code() == StatusCode::kCorruption, loaded.status().to_string());
    BOOST_TEST(loaded.status().message().find(path) != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(vocabulary_without_inst_control_defaults_to_llama2) {
  auto plain = ascii_tokenizer({});
  BOOST_TEST(plain->vocab_size() == 98);
  BOOST_TEST(plain->decode(plain->encode("hi there!")) == "hi there!");
  BOOST_TEST(!plain->piece_to_id("[INST]").has_value());
  BOOST_TEST(std::string(chat_template_name(testing::ok(plain->default_chat_template()))) == "llama2");

  auto normal_inst = ascii_tokenizer({{"[INST]", 1}});
  BOOST_TEST_REQUIRE(normal_inst->piece_to_id("[INST]").has_value());
  BOOST_TEST(std::string(chat_template_name(testing::ok(normal_inst->default_chat_template()))) == "llama2");

  auto control_inst = ascii_tokenizer({{"[INST]", 3}});
  BOOST_TEST(std::string(chat_template_name(testing::ok(control_inst->default_chat_template()))) == "mistral");
}

BOOST_AUTO_TEST_CASE(chat_template_names) {
  BOOST_TEST((parse_chat_template("mistral").value() == ChatTemplate::kMistral));
  BOOST_TEST((parse_chat_template("llama2").value() == ChatTemplate::kLlama2));
  BOOST_TEST(std::string(chat_template_name(ChatTemplate::kMistral)) == "mistral");
  BOOST_TEST(std::string(chat_template_name(ChatTemplate::kLlama2)) == "llama2");
  for (const char* name : {"llama3", "chatml"}) {
    BOOST_TEST(chat_template_name(parse_chat_template(name).value()) == std::string(name));
  }
  auto unknown = parse_chat_template("vicuna");
  BOOST_TEST_REQUIRE(!unknown.ok());
  BOOST_TEST(unknown.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(unknown.status().message() ==
             "unknown chat template 'vicuna' (expected llama3, chatml, mistral or llama2)");
}

BOOST_AUTO_TEST_CASE(safe_from_several_threads) {
  const Tokenizer& t = mistral_tokenizer();
  const std::string text = "h\xC3\xA9llo w\xC3\xB6rld \xF0\x9F\xA6\xA9";
  const Ids expected = t.encode(text);
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < failures.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 200; ++round) {
        if (t.encode(text) != expected || t.decode(expected) != text) ++failures[i];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int f : failures) BOOST_TEST(f == 0);
}

// libtorch (protobuf 3.21) is linked into this binary and running; SentencePiece
// (its own protobuf-lite 3.14) must load and work beside it.
BOOST_AUTO_TEST_CASE(works_in_a_process_running_libtorch) {
  BOOST_TEST(at::ones({2}).sum().item<float>() == 2.0f);
  auto loaded = Tokenizer::load(testing::fixture("tiny-mistral") + "/tokenizer.model");
  BOOST_TEST_REQUIRE(loaded.ok(), loaded.status().to_string());
  const Tokenizer& t = **loaded;
  BOOST_TEST(t.decode(t.encode("hello world")) == "hello world");
  at::Tensor ids = at::tensor(std::vector<int64_t>{7080, 29477, 2294});
  BOOST_TEST(ids.sum().item<int64_t>() == 7080 + 29477 + 2294);
  BOOST_TEST(t.decode({7080, 29477, 2294}) == "hello world");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
