// Writes the binary seeds of tests/fuzz/corpus/ (snapshot/, module_file/,
// remote_manifest/)
// with pcache's own writers, so that they follow the formats:
//
//   build/tests/fuzz/fuzz_write_seeds tests/fuzz/corpus
//
// Run it again when a format changes, keeping a seed of each older version
// the readers still take (snapshot/chat-v1.pcs: format version 1).
#include <cstdio>
#include <filesystem>
#include <string>

#include "cache/module_store.h"
#include "cache/remote_manifest.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/seed_key.h"
#include "pcache/engine.h"

namespace {

namespace fs = std::filesystem;
using namespace pcache;

template <typename T>
T check(StatusOr<T> r) {
  if (!r.ok()) {
    std::fprintf(stderr, "fuzz_write_seeds: %s\n", r.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

void check(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "fuzz_write_seeds: %s\n", s.to_string().c_str());
    std::exit(1);
  }
}

SamplingOptions greedy() {
  SamplingOptions o;
  o.max_tokens = 2;
  o.stop_at_eos = false;
  return o;
}

// States of the tiny Mistral: a plain prompt, a system prompt (an open turn),
// and a sampled chat turn after it (a sampler state with draws).
void write_snapshots(const std::string& dir) {
  fs::create_directories(dir);
  EngineOptions o;
  o.prefix_cache = false;
  auto e = check(Engine::open(fuzz::fixtures_dir() + "/tiny-mistral", o));
  StateId plain = check(e->cache_prompt("Hi")).state;
  check(e->save(plain, dir + "/plain.pcs"));
  check(e->save(plain, dir + "/plain-int8.pcs", /*int8=*/true));
  StateId system = check(e->cache_chat({{"system", "Be brief."}})).state;
  check(e->save(system, dir + "/system.pcs"));
  SamplingOptions sampled = greedy();
  sampled.temperature = 1.f;
  sampled.seed = 3;
  StateId turn = check(e->chat_completion(system, "Hi", sampled)).state;
  check(e->save(turn, dir + "/chat.pcs"));
}

// One small entry (2 layers, 1 KV head, 3 tokens, head_dim 2) in each dtype,
// and int8.
void write_module_files(const std::string& dir) {
  fs::create_directories(dir);
  const std::string scratch = fuzz::temp_dir() + "/modules";
  struct Kind {
    const char* name;
    at::ScalarType dtype;
    bool int8;
  };
  for (const Kind& kind : {Kind{"f32", at::kFloat, false}, Kind{"bf16", at::kBFloat16, false},
                           Kind{"f16", at::kHalf, false}, Kind{"int8", at::kFloat, true}}) {
    ModuleStoreOptions options;
    options.disk_dir = scratch;
    options.int8_tiers = kind.int8;
    ModuleStore store(options);
    ModuleKV kv;
    kv.tokens = {415, 2936, 9060};
    kv.positions = {7, 8, 9};
    for (int layer = 0; layer < 2; ++layer) {
      kv.k.push_back(at::arange(6, at::kFloat).reshape({1, 3, 2}).add(layer).to(kind.dtype));
      kv.v.push_back(at::arange(6, at::kFloat).reshape({1, 3, 2}).mul(-0.5).to(kind.dtype));
    }
    check(store.put(fuzz::seed_module_key(), std::move(kv)));
    for (const auto& f : fs::directory_iterator(scratch)) {
      fs::copy_file(f.path(), dir + "/" + kind.name + ".pcm", fs::copy_options::overwrite_existing);
      fs::remove(f.path());
    }
  }
}

// Manifests of an empty value, of one chunk, and of three (the last shorter).
void write_remote_manifests(const std::string& dir) {
  fs::create_directories(dir);
  struct Kind {
    const char* name;
    uint32_t chunks;
    uint64_t value_bytes, chunk_bytes;
  };
  for (const Kind& kind : {Kind{"empty", 0, 0, 1u << 20}, Kind{"one", 1, 1u << 20, 1u << 20},
                           Kind{"three", 3, 250, 100}}) {
    RemoteManifest m;
    m.chunks = kind.chunks;
    m.value_bytes = kind.value_bytes;
    m.chunk_bytes = kind.chunk_bytes;
    m.generation = 0x0123456789abcdefull;
    m.value_hash = 0xfedcba9876543210ull;
    const std::string bytes = m.encode();
    std::FILE* f = std::fopen((dir + "/" + kind.name + ".bin").c_str(), "wb");
    if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() ||
        std::fclose(f) != 0) {
      std::fprintf(stderr, "fuzz_write_seeds: cannot write %s\n", dir.c_str());
      std::exit(1);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  write_snapshots(std::string(argv[1]) + "/snapshot");
  write_module_files(std::string(argv[1]) + "/module_file");
  write_remote_manifests(std::string(argv[1]) + "/remote_manifest");
  return 0;
}
