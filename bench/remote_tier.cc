// Measures the remote tier (docs/architecture.md, "Remote tier"): the time to
// load a schema's modules from Redis against encoding them, per GB of K/V,
// with K/V stored as they are and as int8. One engine encodes (compile) and
// writes behind; fresh engines (replicas) then compile the same schema, which
// reads every module from Redis. Uses a Redis the caller started; keys go
// under "bench-<pid>-<mode>:", so runs do not see each other's values.
//
//   remote_tier MODEL_DIR --remote redis://127.0.0.1:6379 [--device D] [--dtype T]
//               [--modules M] [--words N] [--repeats R] [--random-weights] [--tokenizer F]
//
// MODEL_DIR may be a config.json with --random-weights (real shapes, no
// weights) and --tokenizer (a tokenizer.model).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_common.h"
#include "pcache/engine.h"

namespace {

using pcache::bench::ms_since;
using pcache::bench::must;

// M modules of N words each, distinct from module to module.
std::string schema_text(int modules, int words) {
  std::string s = "<schema name=\"bench\" mode=\"independent\">Reference material.\n";
  for (int m = 0; m < modules; ++m) {
    s += "<module name=\"m" + std::to_string(m) + "\">";
    for (int w = 0; w < words; ++w) s += "item" + std::to_string((m * 131 + w) % 997) + " ";
    s += "</module>\n";
  }
  return s + "</schema>";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s MODEL_DIR --remote URL [--device D] [--dtype T] [--modules M] "
                 "[--words N] [--repeats R] [--random-weights] [--tokenizer F]\n",
                 argv[0]);
    return 2;
  }
  pcache::EngineOptions options;
  int modules = 4, words = 1000, repeats = 3;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : "";
    if (flag == "--random-weights") {
      options.random_weights = true;
      continue;
    }
    if (flag == "--remote") options.remote = value;
    pcache::bench::engine_flag(flag, value, options);
    if (flag == "--tokenizer") options.tokenizer = value;
    if (flag == "--modules") modules = std::atoi(value);
    if (flag == "--words") words = std::atoi(value);
    if (flag == "--repeats") repeats = std::atoi(value);
    ++i;
  }
  if (options.remote.empty()) {
    std::fprintf(stderr, "--remote redis://HOST:PORT is required\n");
    return 2;
  }
  options.remote_timeout_ms = 60000;  // a GB moves in seconds; never count that as an outage
  options.device_cache_bytes = 64ll << 30;
  const std::string schema = schema_text(modules, words);
  std::printf("%-6s %8s %8s %12s %10s %12s %10s %8s %8s %8s\n", "kv", "modules", "tokens",
              "kv_bytes", "encode_ms", "write_ms", "load_ms", "enc_s/GB", "load_s/GB", "speedup");
  for (const bool int8 : {false, true}) {
    options.int8_tiers = int8;
    options.remote_key_prefix =
        "bench-" + std::to_string(::getpid()) + (int8 ? "-int8:" : "-plain:");
    auto writer = must(pcache::Engine::open(argv[1], options));
    must(writer->add_schema(schema, "bench.xml"));
    auto start = std::chrono::steady_clock::now();
    const auto reports = must(writer->compile("bench"));
    writer->synchronize();
    const double encode_ms = ms_since(start);
    start = std::chrono::steady_clock::now();
    writer->flush_remote_writes();  // encoding to bytes and putting, behind the requests
    const double write_ms = ms_since(start);
    int64_t bytes = 0, tokens = 0;
    for (const auto& r : reports) {
      bytes += r.bytes;
      tokens += r.tokens;
    }
    const int64_t written = writer->cache_stats().remote_writes;
    writer.reset();
    std::vector<double> loads;
    for (int r = -1; r < repeats; ++r) {  // r = -1: a warm-up replica, not counted
      auto reader = must(pcache::Engine::open(argv[1], options));
      must(reader->add_schema(schema, "bench.xml"));
      start = std::chrono::steady_clock::now();
      const auto again = must(reader->compile("bench"));
      reader->synchronize();
      if (r >= 0) loads.push_back(ms_since(start));
      const pcache::CacheStats s = reader->cache_stats();
      if (s.remote_hits != static_cast<int64_t>(again.size()) || s.remote_hits != written) {
        std::fprintf(stderr, "replica read %lld of %zu modules from Redis (%lld written)\n",
                     static_cast<long long>(s.remote_hits), again.size(),
                     static_cast<long long>(written));
        return 1;
      }
    }
    std::sort(loads.begin(), loads.end());
    const double load_ms = loads[loads.size() / 2];
    const double gb = static_cast<double>(bytes) / 1e9;
    std::printf("%-6s %8zu %8lld %12lld %10.1f %12.1f %10.1f %8.2f %8.2f %7.1fx\n",
                int8 ? "int8" : "plain", reports.size(), static_cast<long long>(tokens),
                static_cast<long long>(bytes), encode_ms, write_ms, load_ms,
                encode_ms / 1000 / gb, load_ms / 1000 / gb, encode_ms / load_ms);
    std::fflush(stdout);
  }
  std::printf("kv_bytes: K/V in the model's dtype; load_ms: median of %d replicas' compile (after "
              "one not counted), every module read from Redis; write_ms: what was left of the "
              "writer's write-behind queue after its compile, drained\n",
              repeats);
  return 0;
}
