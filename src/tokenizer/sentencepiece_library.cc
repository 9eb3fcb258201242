#include "tokenizer/sentencepiece_library.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace pcache::tokenizer_internal {
namespace {

namespace fs = std::filesystem;

// Where the library may be, most explicit first.
std::vector<std::string> candidate_paths() {
  std::vector<std::string> paths;
  auto add = [&paths](const std::string& p) {
    if (std::find(paths.begin(), paths.end(), p) == paths.end()) paths.push_back(p);
  };
  if (const char* env = std::getenv("PCACHE_SENTENCEPIECE_LIB"); env && *env) add(env);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path dir = exe.parent_path();
    add((dir / PCACHE_SENTENCEPIECE_LIB_NAME).string());
    add((dir / ".." / "lib" / PCACHE_SENTENCEPIECE_LIB_NAME).lexically_normal().string());
  }
  add(PCACHE_SENTENCEPIECE_BUILD_PATH);
  return paths;
}

template <typename Fn>
void resolve(void* handle, const char* name, Fn* fn, std::string* missing) {
  *fn = reinterpret_cast<Fn>(dlsym(handle, name));
  if (*fn == nullptr) *missing += std::string(missing->empty() ? "" : ", ") + name;
}

// Fills `api` from an opened library; returns the names it lacks, if any.
std::string resolve_all(void* handle, SentencePieceApi* api) {
  std::string missing;
  resolve(handle, "pcache_sp_load", &api->load, &missing);
  resolve(handle, "pcache_sp_free", &api->free, &missing);
  resolve(handle, "pcache_sp_encode", &api->encode, &missing);
  resolve(handle, "pcache_sp_decode", &api->decode, &missing);
  resolve(handle, "pcache_sp_piece_to_id", &api->piece_to_id, &missing);
  resolve(handle, "pcache_sp_id_to_piece", &api->id_to_piece, &missing);
  resolve(handle, "pcache_sp_is_control", &api->is_control, &missing);
  resolve(handle, "pcache_sp_vocab_size", &api->vocab_size, &missing);
  resolve(handle, "pcache_sp_bos_id", &api->bos_id, &missing);
  resolve(handle, "pcache_sp_eos_id", &api->eos_id, &missing);
  resolve(handle, "pcache_sp_unk_id", &api->unk_id, &missing);
  resolve(handle, "pcache_sp_free_buffer", &api->free_buffer, &missing);
  return missing;
}

StatusOr<SentencePieceApi> open_library() {
  std::string tried;
  for (const std::string& path : candidate_paths()) {
    // A link namespace of its own: SentencePiece's bundled protobuf binds to
    // itself, never to libtorch's, and nothing of it reaches ours. Unlike
    // RTLD_DEEPBIND, which sanitizer runtimes refuse, this works under ASan.
    void* handle = dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      tried += std::string("\n  ") + dlerror();
      continue;
    }
    SentencePieceApi api;
    std::string missing = resolve_all(handle, &api);
    if (missing.empty()) return api;  // never closed: models may live until exit
    tried += "\n  " + path + ": lacks " + missing;
    dlclose(handle);
  }
  return Status::internal(std::string("cannot load the SentencePiece library ") +
                          PCACHE_SENTENCEPIECE_LIB_NAME +
                          " (PCACHE_SENTENCEPIECE_LIB may name it); tried:" + tried);
}

}  // namespace

StatusOr<const SentencePieceApi*> sentencepiece_api() {
  // A function-local static is initialised exactly once, even under threads.
  static const StatusOr<SentencePieceApi> api = open_library();
  if (!api.ok()) return api.status();
  return &api.value();
}

}  // namespace pcache::tokenizer_internal
