// Helpers shared by the tokenizer suites: the real Mistral v0.3 tokenizer, and
// hand-written SentencePiece models for vocabularies no fixture has.
#pragma once

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pcache/tokenizer.h"
#include "testing.h"

namespace pcache::testing {

// Mistral v0.3's tokenizer.model: vocab 32768, unk 0, bos 1, eos 2, [INST] 3.
inline const Tokenizer& mistral_tokenizer() {
  static const std::unique_ptr<Tokenizer> tokenizer = [] {
    auto loaded = Tokenizer::load(fixture("tiny-mistral") + "/tokenizer.model");
    BOOST_TEST_REQUIRE(loaded.ok(), loaded.status().to_string());
    return std::move(loaded).value();
  }();
  return *tokenizer;
}

// One scratch folder per test binary, removed at exit.
inline const std::string& scratch_dir() {
  static const TempDir dir;
  return dir.path;
}

inline std::string write_file(const std::string& name, const std::string& bytes) {
  std::string path = scratch_dir() + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// SentencePiece's ModelProto in protobuf wire format: enough fields for a
// unigram model whose pieces are given with their types (1 normal, 2 unknown,
// 3 control).
class ModelProtoWriter {
 public:
  void add_piece(const std::string& piece, int type, float score = 0) {
    std::string message;
    put_bytes(&message, 1, piece);
    put_tag(&message, 2, 5);  // score: fixed32 float
    char raw[4];
    std::memcpy(raw, &score, 4);
    message.append(raw, 4);
    put_tag(&message, 3, 0);
    put_varint(&message, type);
    put_bytes(&proto_, 1, message);
  }
  const std::string& bytes() const { return proto_; }

 private:
  static void put_varint(std::string* out, uint64_t v) {
    for (; v >= 0x80; v >>= 7) out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    out->push_back(static_cast<char>(v));
  }
  static void put_tag(std::string* out, int field, int wire_type) {
    put_varint(out, static_cast<uint64_t>(field) << 3 | wire_type);
  }
  static void put_bytes(std::string* out, int field, const std::string& bytes) {
    put_tag(out, field, 2);
    put_varint(out, bytes.size());
    out->append(bytes);
  }
  std::string proto_;
};

// A model with <unk> <s> </s>, "▁", printable ASCII, and `extra` pieces.
inline std::unique_ptr<Tokenizer> ascii_tokenizer(
    const std::vector<std::pair<std::string, int>>& extra) {
  ModelProtoWriter writer;
  writer.add_piece("<unk>", 2);
  writer.add_piece("<s>", 3);
  writer.add_piece("</s>", 3);
  writer.add_piece("\xE2\x96\x81", 1, -1);
  for (char c = '!'; c <= '~'; ++c) writer.add_piece(std::string(1, c), 1, -2);
  for (const auto& [piece, type] : extra) writer.add_piece(piece, type, -1);
  auto loaded = Tokenizer::load(write_file("tokenizer.model", writer.bytes()));
  BOOST_TEST_REQUIRE(loaded.ok(), loaded.status().to_string());
  return std::move(loaded).value();
}

}  // namespace pcache::testing
