// `pcache bench`: time to first token of a prompt made of one cached module
// of L tokens plus N new tokens, three ways (docs/benchmarks.md):
//   naive  - one full prefill of the whole prompt, then the first token;
//   cached - the module's states from the store + prefill of the new text;
//   floor  - prefill of the new text alone, without any context;
// plus decoding speed at batch 1 after the prompt, and device memory. Uses
// only the public API; every time is taken with a DeviceTimer (CUDA events on
// a GPU) around the whole call, after warm-ups.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/common.h"
#include "pcache/device_timer.h"

namespace pcache::cli {
namespace {

// Common English words; those the tokenizer keeps as one piece make the text,
// so that a text of n words is n tokens of real, varied pieces.
constexpr const char* kWords[] = {
    "the",     "menu",  "table",   "dinner",    "lunch",  "kitchen", "chef",  "fresh",   "bread",
    "cheese",  "wine",  "water",   "garden",    "market", "price",   "open",  "closed",  "morning",
    "evening", "night", "city",    "river",     "bridge", "street",  "house", "window",  "door",
    "light",   "green", "red",     "blue",      "white",  "black",   "small", "large",   "good",
    "new",     "old",   "long",    "short",     "fish",   "meat",    "rice",  "soup",    "salad",
    "fruit",   "apple", "lemon",   "orange",    "sugar",  "salt",    "oil",   "milk",    "coffee",
    "tea",     "cake",  "sweet",   "hot",       "cold",   "warm",    "day",   "week",    "month",
    "year",    "time",  "hour",    "place",     "room",   "book",    "music", "people",  "family",
    "friend",  "child", "woman",   "man",       "name",   "story",   "world", "country", "road",
    "car",     "train", "station", "ticket",    "walk",   "visit",   "stay",  "watch",   "read",
    "write",   "speak", "listen",  "learn",     "work",   "play",    "cook",  "eat",     "drink",
    "sleep",   "and",   "with",    "from",      "near",   "under",   "over",  "after",   "before",
    "during",  "every", "many",    "some",      "other",  "first",   "last",  "next",    "best",
    "early",   "late",  "quiet",   "service",   "guest",  "order",   "plate", "glass",   "cup",
    "spoon",   "knife", "fork",    "bowl",      "pepper", "garlic",  "onion", "tomato",  "potato",
    "butter",  "cream", "honey",   "chocolate", "pizza",
};

std::string words_text(const Tokenizer& tok, int64_t n, uint64_t seed) {
  std::vector<std::string> one_piece;
  for (const char* w : kWords) {
    if (tok.encode(w).size() == 1) one_piece.push_back(w);
  }
  std::string text;
  uint64_t x = seed * 2654435761u + 1;
  for (int64_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;  // an LCG: varied, repeatable
    if (i) text += ' ';
    text += one_piece[(x >> 33) % one_piece.size()];
  }
  return text;
}

struct Summary {
  double median = 0, p90 = 0;
};

Summary summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {  // linear interpolation between ranks
    double r = q * (v.size() - 1);
    size_t lo = static_cast<size_t>(r);
    size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (r - lo);
  };
  return {at(0.5), at(0.9)};
}

nlohmann::json to_json(const Summary& s) { return {{"median", s.median}, {"p90", s.p90}}; }

std::vector<int64_t> parse_lengths(const std::string& list, const char* what, Status* error) {
  std::vector<int64_t> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (end && (*end == 'k' || *end == 'K')) {
      v *= 1024;
      ++end;
    }
    if (item.empty() || !end || *end != '\0' || v < 1 || v > (1 << 20)) {
      *error = Status::invalid_argument(std::string(what) + ": \"" + item +
                                        "\" is not a length in tokens (1 .. 1M; 4k = 4096)");
      return {};
    }
    out.push_back(v);
  }
  if (out.empty()) *error = Status::invalid_argument(std::string(what) + ": no lengths given");
  return out;
}

std::string iso_date() {
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return buf;
}

std::string hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

}  // namespace

int run_bench(CommonOptions& common, const BenchOptions& b) {
  Status bad;
  std::vector<int64_t> module_lengths = parse_lengths(b.module_tokens, "--module-tokens", &bad);
  std::vector<int64_t> new_lengths = parse_lengths(b.new_tokens, "--new-tokens", &bad);
  if (!bad.ok()) return report(bad);
  // Every module stays on the device; plain prompts are never reused, so the
  // naive and floor runs really compute everything, every time.
  common.engine.prefix_cache = false;
  common.engine.device_cache_bytes =
      std::max<int64_t>(common.engine.device_cache_bytes, b.device_cache_bytes);
  common.engine.workspace_bytes =
      std::max<int64_t>(common.engine.workspace_bytes, b.device_cache_bytes);
  auto opened = common.open_engine();
  if (!opened.ok()) return report(opened.status());
  Engine& engine = **opened;
  auto tok_or = engine.tokenizer();
  if (!tok_or.ok()) return report(tok_or.status());
  const Tokenizer& tok = **tok_or;
  DeviceTimer timer(engine);

  nlohmann::json out;
  out["tool"] = "pcache bench";
  out["machine"] = {
      {"hostname", hostname()}, {"device", engine.device_name()}, {"cpu", cpu_name()}};
  out["model"] = {{"name", b.name.empty() ? common.model_dir : b.name},
                  {"config", common.model_dir},
                  {"summary", engine.describe()},
                  {"weights", common.engine.random_weights ? "random" : "checkpoint"}};
  const std::string described = engine.describe();  // "... on cuda:0, bfloat16"
  out["dtype"] = described.substr(described.rfind(", ") + 2);
  out["versions"] = {{"pcache", "0.1.0"}, {"build", engine.build_info()}};
  const char* graphs = std::getenv("PCACHE_CUDA_GRAPHS");
  out["settings"] = {
      {"warmup", b.warmup},
      {"repeats", b.repeats},
      {"decode_tokens", b.decode_tokens},
      {"decode_repeats", b.decode_repeats},
      {"timer", timer.method()},
      {"cuda_graphs", graphs && std::string(graphs) == "0" ? "off" : "on where supported"},
      {"tokens", "one-piece English words from the tokenizer"}};
  out["date"] = iso_date();
  out["results"] = nlohmann::json::array();
  std::cerr << "pcache bench: " << engine.describe() << " (" << engine.device_name() << ", "
            << engine.build_info() << ")\n";
  std::cerr << std::setw(7) << "module" << std::setw(5) << "new" << std::setw(11) << "naive ms"
            << std::setw(11) << "cached ms" << std::setw(10) << "floor ms" << std::setw(9)
            << "speedup" << std::setw(14) << "cached/floor" << std::setw(10) << "decode/s"
            << "\n";

  // Times `fn` (which returns a Generation) warmup + repeats times; the
  // Generations of the timed runs go to `gens`.
  auto measure = [&](int repeats, auto fn, std::vector<Generation>* gens) -> StatusOr<Summary> {
    std::vector<double> ms;
    for (int i = 0; i < b.warmup + repeats; ++i) {
      engine.synchronize();
      timer.start();
      StatusOr<Generation> g = fn();
      const double t = timer.stop_ms();
      if (!g.ok()) return g.status();
      if (i >= b.warmup) {
        ms.push_back(t);
        if (gens) gens->push_back(std::move(g).value());
      }
    }
    return summarize(ms);
  };

  for (int64_t n_new : new_lengths) {
    for (int64_t n_module : module_lengths) {
      const std::string schema_name = "bench_" + std::to_string(n_module);
      const std::string module_text = words_text(tok, n_module, static_cast<uint64_t>(n_module));
      const std::string new_text = words_text(tok, n_new, 7 + static_cast<uint64_t>(n_new));
      auto added = engine.add_schema("<schema name=\"" + schema_name + "\"><module name=\"doc\">" +
                                         module_text + "</module></schema>",
                                     schema_name + ".xml");
      if (!added.ok()) return report(added.status());
      auto compiled = engine.compile(schema_name);
      if (!compiled.ok()) return report(compiled.status());
      int64_t kv_bytes = 0;
      for (const ModuleReport& m : *compiled) kv_bytes += m.bytes;
      const std::string with_module =
          "<prompt schema=\"" + schema_name + "\"><doc/><user>" + new_text + "</user></prompt>";
      const std::string without =
          "<prompt schema=\"" + schema_name + "\"><user>" + new_text + "</user></prompt>";
      RunOptions first;
      first.sampling.max_tokens = 1;
      first.sampling.stop_at_eos = false;
      RunOptions naive = first;
      naive.use_cache = false;
      RunOptions decode = first;
      decode.sampling.max_tokens = b.decode_tokens + 1;

      engine.reset_peak_device_memory();
      std::vector<Generation> cached_gens;
      auto cached = measure(
          b.repeats, [&] { return engine.run(with_module, first); }, &cached_gens);
      if (!cached.ok()) return report(cached.status());
      auto naive_ms = measure(
          b.repeats, [&] { return engine.run(with_module, naive); }, nullptr);
      if (!naive_ms.ok()) return report(naive_ms.status());
      auto floor_ms = measure(
          b.repeats, [&] { return engine.run(without, first); }, nullptr);
      if (!floor_ms.ok()) return report(floor_ms.status());
      std::vector<Generation> decode_gens;
      std::optional<Summary> decode_rate;
      if (b.decode_tokens > 0 && b.decode_repeats > 0) {
        auto d = measure(
            b.decode_repeats, [&] { return engine.run(with_module, decode); }, &decode_gens);
        if (!d.ok()) return report(d.status());
        std::vector<double> rates;
        for (const Generation& g : decode_gens) rates.push_back(g.timings.decode_tokens_per_s());
        Summary r = summarize(rates);
        // p90 of a rate is its slow end: the 10th percentile of tokens/s.
        std::sort(rates.begin(), rates.end());
        r.p90 = rates[static_cast<size_t>(0.1 * (rates.size() - 1))];
        decode_rate = r;
      }
      const DeviceMemory mem = engine.device_memory();
      std::vector<double> assembly, prefill;
      for (const Generation& g : cached_gens) {
        assembly.push_back(g.timings.assembly_ms);
        prefill.push_back(g.timings.prefill_ms);
      }
      const GenerationTimings& t = cached_gens.front().timings;
      nlohmann::json row = {{"module_tokens", n_module},
                            {"new_tokens", n_new},
                            {"cached_tokens", t.cached_tokens},
                            {"computed_tokens", t.prompt_tokens - t.cached_tokens},
                            {"naive_ms", to_json(*naive_ms)},
                            {"cached_ms", to_json(*cached)},
                            {"floor_ms", to_json(*floor_ms)},
                            {"cached_assembly_ms", to_json(summarize(assembly))},
                            {"cached_prefill_ms", to_json(summarize(prefill))},
                            {"kv_bytes", kv_bytes},
                            {"store_device_bytes", engine.cache_stats().device_bytes},
                            {"peak_device_bytes", mem.peak_allocated}};
      if (decode_rate) row["decode_tokens_per_s"] = to_json(*decode_rate);
      out["results"].push_back(row);
      std::cerr << std::fixed << std::setprecision(2) << std::setw(7) << n_module << std::setw(5)
                << n_new << std::setw(11) << naive_ms->median << std::setw(11) << cached->median
                << std::setw(10) << floor_ms->median << std::setw(8)
                << naive_ms->median / cached->median << "x" << std::setw(14)
                << cached->median / floor_ms->median << std::setw(10)
                << (decode_rate ? decode_rate->median : 0.0) << "\n";
      if (!b.out.empty()) {
        std::ofstream f(b.out);
        f << out.dump(2) << "\n";
        if (!f) return report(Status::io_error(b.out + ": cannot write the results"));
      }
    }
  }
  if (b.out.empty()) std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace pcache::cli
