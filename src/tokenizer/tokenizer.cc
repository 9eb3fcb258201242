#include "pcache/tokenizer.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <system_error>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/sentencepiece_library.h"
#include "tokenizer/tokenizer_impl.h"
#include "util/file_util.h"

namespace pcache {
namespace {

using tokenizer_internal::SentencePieceApi;

// A SentencePiece model, through the private library's C ABI.
class SentencePieceTokenizer final : public Tokenizer::Impl {
 public:
  SentencePieceTokenizer(const SentencePieceApi* api, PcacheSpModel* model)
      : api_(api), model_(model) {}
  ~SentencePieceTokenizer() override { api_->free(model_); }

  std::vector<int> encode(std::string_view text, bool special) const override;
  std::string decode(const std::vector<int>& ids) const override;
  std::optional<int> piece_to_id(std::string_view piece) const override;
  std::string id_to_piece(int id) const override;
  bool is_control(int id) const override;

 private:
  const SentencePieceApi* api_;
  PcacheSpModel* model_;
};

std::vector<int> SentencePieceTokenizer::encode(std::string_view text, bool special) const {
  int* ids = nullptr;
  size_t n = 0;
  // Encoding fails only on internal SentencePiece errors; the contract has no
  // error path, so that reads as no tokens.
  if (api_->encode(model_, text.data(), text.size(), &ids, &n) != 0) return {};
  std::vector<int> out;
  if (special && bos_id >= 0) out.push_back(bos_id);
  out.insert(out.end(), ids, ids + n);
  api_->free_buffer(ids);
  return out;
}

std::string SentencePieceTokenizer::decode(const std::vector<int>& ids) const {
  // SentencePiece rejects the whole input on one bad id; skip them instead.
  std::vector<int> valid;
  valid.reserve(ids.size());
  for (int id : ids) {
    if (id >= 0 && id < vocab_size) valid.push_back(id);
  }
  char* text = nullptr;
  size_t len = 0;
  if (api_->decode(model_, valid.data(), valid.size(), &text, &len) != 0) return {};
  std::string out(text, len);
  api_->free_buffer(text);
  return out;
}

std::optional<int> SentencePieceTokenizer::piece_to_id(std::string_view piece) const {
  int id = api_->piece_to_id(model_, piece.data(), piece.size());
  // SentencePiece answers unk for unknown pieces, so unk is only a real answer
  // when it was asked for by name.
  if (id == unk_id && piece != id_to_piece(id)) return std::nullopt;
  return id;
}

std::string SentencePieceTokenizer::id_to_piece(int id) const {
  if (id < 0 || id >= vocab_size) return {};
  size_t len = 0;
  char* piece = api_->id_to_piece(model_, id, &len);
  if (piece == nullptr) return {};
  std::string out(piece, len);
  api_->free_buffer(piece);
  return out;
}

bool SentencePieceTokenizer::is_control(int id) const {
  return id >= 0 && id < vocab_size && api_->is_control(model_, id) != 0;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string Tokenizer::path_in(const std::string& model_dir) {
  std::error_code ec;
  const std::string model = model_dir + "/tokenizer.model", json = model_dir + "/tokenizer.json";
  return !std::filesystem::exists(model, ec) && std::filesystem::exists(json, ec) ? json : model;
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::load(const std::string& model_path) {
  if (ends_with(model_path, ".json")) {
    PCACHE_ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl,
                            tokenizer_internal::load_bpe_tokenizer(model_path));
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
  }
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
  auto impl = std::make_unique<SentencePieceTokenizer>(api, model);
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
  return impl_->encode(text, /*special=*/false);
}

std::vector<int> Tokenizer::encode_with_special_tokens(std::string_view text) const {
  return impl_->encode(text, /*special=*/true);
}

std::string Tokenizer::decode(const std::vector<int>& ids) const { return impl_->decode(ids); }

std::optional<int> Tokenizer::piece_to_id(std::string_view piece) const {
  return impl_->piece_to_id(piece);
}

std::string Tokenizer::id_to_piece(int id) const { return impl_->id_to_piece(id); }

bool Tokenizer::is_control(int id) const { return impl_->is_control(id); }

int Tokenizer::vocab_size() const { return impl_->vocab_size; }

int64_t Tokenizer::min_tokens(size_t text_bytes) const {
  // A piece covers at most its own length of text; normalisation may map a
  // few input bytes to one (full-width forms), hence the margin of 2.
  return static_cast<int64_t>(text_bytes) / (2 * impl_->max_piece_bytes);
}
int Tokenizer::bos_id() const { return impl_->bos_id; }
int Tokenizer::eos_id() const { return impl_->eos_id; }
int Tokenizer::unk_id() const { return impl_->unk_id; }
std::vector<int> Tokenizer::bos_ids() const {
  return impl_->bos_id >= 0 ? std::vector<int>{impl_->bos_id} : std::vector<int>{};
}

const std::string& Tokenizer::chat_template_text() const { return impl_->chat_template; }
const std::string& Tokenizer::chat_template_file() const { return impl_->chat_template_file; }

}  // namespace pcache
