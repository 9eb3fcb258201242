// libpcache_sentencepiece: SentencePiece behind the C ABI of
// sentencepiece_shim.h. No exception may leave it, since callers are on the
// other side of dlsym.
#include "tokenizer/sentencepiece_shim.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

struct PcacheSpModel {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

// A malloc'd NUL-terminated copy, so that it can cross the ABI.
char* copy_out(const std::string& s, size_t* len) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out == nullptr) return nullptr;
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  if (len != nullptr) *len = s.size();
  return out;
}

constexpr int kFailed = static_cast<int>(sentencepiece::util::StatusCode::kInternal);

}  // namespace

extern "C" {

int pcache_sp_load(const char* path, PcacheSpModel** model, char** error) {
  *model = nullptr;
  *error = nullptr;
  try {
    auto m = std::make_unique<PcacheSpModel>();
    sentencepiece::util::Status status = m->processor.Load(path);
    if (!status.ok()) {
      *error = copy_out(status.ToString(), nullptr);
      return static_cast<int>(status.code());
    }
    *model = m.release();
    return 0;
  } catch (const std::exception& e) {
    *error = copy_out(e.what(), nullptr);
    return kFailed;
  }
}

void pcache_sp_free(PcacheSpModel* model) { delete model; }

int pcache_sp_encode(const PcacheSpModel* model, const char* text, size_t len, int** ids,
                     size_t* n) {
  *ids = nullptr;
  *n = 0;
  try {
    std::vector<int> out;
    if (!model->processor.Encode(absl::string_view(text, len), &out).ok()) return kFailed;
    if (out.empty()) return 0;
    *ids = static_cast<int*>(std::malloc(out.size() * sizeof(int)));
    if (*ids == nullptr) return kFailed;
    std::memcpy(*ids, out.data(), out.size() * sizeof(int));
    *n = out.size();
    return 0;
  } catch (const std::exception&) {
    return kFailed;
  }
}

int pcache_sp_decode(const PcacheSpModel* model, const int* ids, size_t n, char** text,
                     size_t* len) {
  *text = nullptr;
  *len = 0;
  try {
    std::string out;
    if (!model->processor.Decode(std::vector<int>(ids, ids + n), &out).ok()) return kFailed;
    *text = copy_out(out, len);
    return *text == nullptr ? kFailed : 0;
  } catch (const std::exception&) {
    return kFailed;
  }
}

int pcache_sp_piece_to_id(const PcacheSpModel* model, const char* piece, size_t len) {
  return model->processor.PieceToId(absl::string_view(piece, len));
}

char* pcache_sp_id_to_piece(const PcacheSpModel* model, int id, size_t* len) {
  try {
    return copy_out(model->processor.IdToPiece(id), len);
  } catch (const std::exception&) {
    return nullptr;
  }
}

int pcache_sp_is_control(const PcacheSpModel* model, int id) {
  return model->processor.IsControl(id) ? 1 : 0;
}

int pcache_sp_vocab_size(const PcacheSpModel* model) { return model->processor.GetPieceSize(); }
int pcache_sp_bos_id(const PcacheSpModel* model) { return model->processor.bos_id(); }
int pcache_sp_eos_id(const PcacheSpModel* model) { return model->processor.eos_id(); }
int pcache_sp_unk_id(const PcacheSpModel* model) { return model->processor.unk_id(); }

void pcache_sp_free_buffer(void* buffer) { std::free(buffer); }

}  // extern "C"
