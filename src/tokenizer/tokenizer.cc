#include "pcache/tokenizer.h"

#include <unistd.h>

#include <algorithm>
#include <optional>
#include <system_error>

#include "tokenizer/sentencepiece_library.h"
#include "util/file_util.h"

namespace pcache {

using tokenizer_internal::SentencePieceApi;

struct Tokenizer::Impl {
  Impl(const SentencePieceApi* api, PcacheSpModel* model) : api(api), model(model) {}
  ~Impl() { api->free(model); }

  const SentencePieceApi* api;
  PcacheSpModel* model;
  // Asked once: they never change and are read on every call.
  int vocab_size = 0;
  int bos_id = -1;
  int eos_id = -1;
  int unk_id = -1;
  int64_t max_piece_bytes = 1;  // the most input bytes one piece covers
};

StatusOr<ChatTemplate> parse_chat_template(std::string_view name) {
  if (name == "mistral") return ChatTemplate::kMistral;
  if (name == "llama2") return ChatTemplate::kLlama2;
  return Status::invalid_argument("unknown chat template '" + std::string(name) +
                                  "' (expected mistral or llama2)");
}

const char* chat_template_name(ChatTemplate t) {
  switch (t) {
    case ChatTemplate::kMistral: return "mistral";
    case ChatTemplate::kLlama2: return "llama2";
  }
  return "unknown";
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::load(const std::string& model_path) {
  // Checked here so that a wrong path reads as NotFound even when the
  // SentencePiece library itself is missing.
  {
    // SentencePiece opens the path itself: only a regular file of a sane size
    // gets there (a FIFO would block it, /dev/zero would never end).
    uint64_t size = 0;
    PCACHE_ASSIGN_OR_RETURN(const int fd, open_regular_file(model_path, &size));
    ::close(fd);
    if (size > kMaxTokenizerFileBytes) {
      return Status::invalid_argument(model_path + ": more than " +
                                      std::to_string(kMaxTokenizerFileBytes) +
                                      " bytes (the limit for tokenizer files)");
    }
  }
  PCACHE_ASSIGN_OR_RETURN(const SentencePieceApi* api, tokenizer_internal::sentencepiece_api());

  PcacheSpModel* model = nullptr;
  char* error = nullptr;
  int code = api->load(model_path.c_str(), &model, &error);
  if (code != 0) {
    std::string message = model_path + ": not a SentencePiece model (" +
                          (error != nullptr ? error : "unknown error") + ")";
    api->free_buffer(error);
    constexpr int kSentencePieceNotFound = 5;
    if (code == kSentencePieceNotFound) return Status::not_found(message);
    return Status::corruption(message);
  }
  auto impl = std::make_unique<Impl>(api, model);
  impl->vocab_size = api->vocab_size(model);
  impl->bos_id = api->bos_id(model);
  impl->eos_id = api->eos_id(model);
  impl->unk_id = api->unk_id(model);
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer(std::move(impl)));
  for (int id = 0; id < tokenizer->vocab_size(); ++id) {
    // In input bytes: "▁" (3 bytes in the piece) stands for one space.
    const std::string piece = tokenizer->id_to_piece(id);
    int64_t bytes = static_cast<int64_t>(piece.size());
    for (size_t at = piece.find("\xe2\x96\x81"); at != std::string::npos; at = piece.find("\xe2\x96\x81", at + 3)) {
      bytes -= 2;
    }
    tokenizer->impl_->max_piece_bytes = std::max(tokenizer->impl_->max_piece_bytes, bytes);
  }
  return tokenizer;
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::vector<int> Tokenizer::encode(std::string_view text) const {
  int* ids = nullptr;
  size_t n = 0;
  // Encoding fails only on internal SentencePiece errors; the contract has no
  // error path, so that reads as no tokens.
  if (impl_->api->encode(impl_->model, text.data(), text.size(), &ids, &n) != 0) return {};
  std::vector<int> out(ids, ids + n);
  impl_->api->free_buffer(ids);
  return out;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  // SentencePiece rejects the whole input on one bad id; skip them instead.
  std::vector<int> valid;
  valid.reserve(ids.size());
  for (int id : ids) {
    if (id >= 0 && id < impl_->vocab_size) valid.push_back(id);
  }
  char* text = nullptr;
  size_t len = 0;
  if (impl_->api->decode(impl_->model, valid.data(), valid.size(), &text, &len) != 0) return {};
  std::string out(text, len);
  impl_->api->free_buffer(text);
  return out;
}

std::optional<int> Tokenizer::piece_to_id(std::string_view piece) const {
  int id = impl_->api->piece_to_id(impl_->model, piece.data(), piece.size());
  // SentencePiece answers unk for unknown pieces, so unk is only a real answer
  // when it was asked for by name.
  if (id == impl_->unk_id && piece != id_to_piece(id)) return std::nullopt;
  return id;
}

std::string Tokenizer::id_to_piece(int id) const {
  if (id < 0 || id >= impl_->vocab_size) return {};
  size_t len = 0;
  char* piece = impl_->api->id_to_piece(impl_->model, id, &len);
  if (piece == nullptr) return {};
  std::string out(piece, len);
  impl_->api->free_buffer(piece);
  return out;
}

bool Tokenizer::is_control(int id) const {
  return id >= 0 && id < impl_->vocab_size && impl_->api->is_control(impl_->model, id) != 0;
}

int Tokenizer::vocab_size() const { return impl_->vocab_size; }

int64_t Tokenizer::min_tokens(size_t text_bytes) const {
  // A piece covers at most its own length of text; normalisation may map a
  // few input bytes to one (full-width forms), hence the margin of 2.
  return static_cast<int64_t>(text_bytes) / (2 * impl_->max_piece_bytes);
}
int Tokenizer::bos_id() const { return impl_->bos_id; }
int Tokenizer::eos_id() const { return impl_->eos_id; }
int Tokenizer::unk_id() const { return impl_->unk_id; }

ChatTemplate Tokenizer::default_chat_template() const {
  std::optional<int> inst = piece_to_id("[INST]");
  return inst && is_control(*inst) ? ChatTemplate::kMistral : ChatTemplate::kLlama2;
}

}  // namespace pcache
