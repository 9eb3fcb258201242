// Fuzz target: a snapshot file (docs/formats.md, "Snapshot files") loaded by
// an engine on the tiny Mistral fixture, as `Engine::load` does for a client,
// then used: its logits read and two tokens generated on it. The checksum is
// recomputed (checksummed.h).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "fuzz/checksummed.h"
#include "fuzz/fuzz_util.h"
#include "pcache/engine.h"
#include "runtime/snapshot_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcache;
  static const std::unique_ptr<Engine> engine = [] {
    EngineOptions o;
    o.prefix_cache = false;
    auto e = Engine::open(fuzz::fixtures_dir() + "/tiny-mistral", o);
    if (!e.ok()) {
      std::fprintf(stderr, "fuzz: %s\n", e.status().to_string().c_str());
      std::abort();
    }
    return std::move(e).value();
  }();
  const std::string bytes = fuzz::with_checksum(data, size, snapshot_format::kMagicBytes);
  const std::string path = fuzz::write_temp_file(
      "state.pcs", reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  auto state = engine->load(path);
  if (!state.ok()) return 0;
  (void)engine->next_token_logits(*state);
  SamplingOptions greedy;
  greedy.max_tokens = 2;
  greedy.stop_at_eos = false;
  (void)engine->text_completion(*state, " and", greedy);
  (void)engine->chat_completion(*state, "Why?", greedy);
  (void)engine->release(*state);
  return 0;
}
