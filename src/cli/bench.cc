// `pcache bench`: time to first token of a prompt made of one cached module
// of L tokens plus N new tokens, three ways (docs/benchmarks.md):
//   naive  - one full prefill of the whole prompt, then the first token;
//   cached - the module's states from the store + prefill of the new text;
//   floor  - prefill of the new text alone, without any context;
// plus decoding speed at batch 1 after the prompt, and device memory. Uses
// only the public API; every time is taken with a DeviceTimer (CUDA events on
// a GPU) around the whole call, after warm-ups.
#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <iomanip>
#include <iostream>

#include "cli/bench_concurrency.h"
#include "cli/bench_util.h"
#include "cli/common.h"
#include "pcache/device_timer.h"

namespace pcache::cli {

int run_bench(CommonOptions& common, const BenchOptions& b) {
  Status bad;
  std::vector<int64_t> module_lengths = parse_lengths(b.module_tokens, "--module-tokens", &bad);
  std::vector<int64_t> new_lengths = parse_lengths(b.new_tokens, "--new-tokens", &bad);
  std::vector<int64_t> concurrency;
  if (!b.concurrency.empty()) concurrency = parse_lengths(b.concurrency, "--concurrency", &bad);
  if (!bad.ok()) return report(bad);
  // Every module stays on the device; plain prompts are never reused, so the
  // naive and floor runs really compute everything, every time.
  common.engine.prefix_cache = false;
  common.engine.device_cache_bytes =
      std::max<int64_t>(common.engine.device_cache_bytes, b.device_cache_bytes);
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
  out["settings"] = {
      {"warmup", b.warmup},
      {"repeats", b.repeats},
      {"decode_tokens", b.decode_tokens},
      {"decode_repeats", b.decode_repeats},
      {"decode_sampling", {{"temperature", b.temperature}, {"top_k", b.top_k}, {"top_p", b.top_p}}},
      {"timer", timer.method()},
      {"cuda_graphs", "decode steps and lone extends of up to 128 tokens (model/step_graphs.h)"},
      {"tokens", "one-piece English words from the tokenizer"}};
  out["date"] = iso_date();
  out["results"] = nlohmann::json::array();
  if (!concurrency.empty()) {
    out["mode"] = "concurrency";
    Status s = bench_concurrency(engine, b, concurrency, out);
    if (!s.ok()) return report(s);
    if (b.out.empty()) std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cerr << "pcache bench: " << engine.describe() << " (" << engine.device_name() << ", "
            << engine.build_info() << ")\n";
  std::cerr << std::setw(7) << "module" << std::setw(5) << "new" << std::setw(11) << "naive ms"
            << std::setw(11) << "cached ms" << std::setw(10) << "floor ms" << std::setw(9)
            << "speedup" << std::setw(14) << "cached/floor" << std::setw(10) << "decode/s"
            << "\n";

  // Progress on a terminal: the row, the run within it, and the time left,
  // estimated from the rows done in proportion to their tokens.
  Progress progress;
  const int rows = static_cast<int>(new_lengths.size() * module_lengths.size());
  int row_index = 0;
  int64_t tokens_done = 0, tokens_left = 0;
  for (int64_t n_new : new_lengths) {
    for (int64_t n_module : module_lengths) tokens_left += n_module + n_new;
  }
  const auto bench_start = std::chrono::steady_clock::now();
  std::string row_label, time_left;

  // Times `fn` (which returns a Generation) warmup + repeats times; the
  // Generations of the timed runs go to `gens`.
  auto measure = [&](const char* what, int repeats, auto fn,
                     std::vector<Generation>* gens) -> StatusOr<Summary> {
    std::vector<double> ms;
    for (int i = 0; i < b.warmup + repeats; ++i) {
      progress.show(row_label + ": " + what + " " + std::to_string(i + 1) + " of " +
                    std::to_string(b.warmup + repeats) + time_left);
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
      ++row_index;
      row_label = "bench: row " + std::to_string(row_index) + " of " + std::to_string(rows) +
                  " (module " + std::to_string(n_module) + ", new " + std::to_string(n_new) + ")";
      if (tokens_done > 0) {
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - bench_start).count();
        time_left = ", about " + format_duration(elapsed / tokens_done * tokens_left) + " left";
      }
      const std::string schema_name = "bench_" + std::to_string(n_module);
      const std::string module_text = words_text(tok, n_module, static_cast<uint64_t>(n_module));
      const std::string new_text = words_text(tok, n_new, 7 + static_cast<uint64_t>(n_new));
      auto added = engine.add_schema("<schema name=\"" + schema_name + "\"><module name=\"doc\">" +
                                         module_text + "</module></schema>",
                                     schema_name + ".xml");
      if (!added.ok()) return report(added.status());
      progress.show(row_label + ": encoding the module" + time_left);
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
      decode.sampling.temperature = b.temperature;
      decode.sampling.top_k = b.top_k;
      decode.sampling.top_p = b.top_p;

      engine.reset_peak_device_memory();
      std::vector<Generation> cached_gens;
      auto cached = measure(
          "cached", b.repeats, [&] { return engine.run(with_module, first); }, &cached_gens);
      if (!cached.ok()) return report(cached.status());
      auto naive_ms = measure(
          "naive", b.repeats, [&] { return engine.run(with_module, naive); }, nullptr);
      if (!naive_ms.ok()) return report(naive_ms.status());
      std::vector<Generation> floor_gens;
      auto floor_ms = measure(
          "floor", b.repeats, [&] { return engine.run(without, first); }, &floor_gens);
      if (!floor_ms.ok()) return report(floor_ms.status());
      std::vector<Generation> decode_gens;
      std::optional<Summary> decode_rate;
      int64_t overlapped_steps = 0;  // of the decode runs (scheduler.h: overlapped steps)
      if (b.decode_tokens > 0 && b.decode_repeats > 0) {
        const int64_t overlapped_before = engine.serving_stats().overlapped_steps;
        auto d = measure(
            "decode", b.decode_repeats, [&] { return engine.run(with_module, decode); },
            &decode_gens);
        if (!d.ok()) return report(d.status());
        overlapped_steps = engine.serving_stats().overlapped_steps - overlapped_before;
        std::vector<double> rates;
        for (const Generation& g : decode_gens) rates.push_back(g.timings.decode_tokens_per_s());
        Summary r = summarize(rates);
        // p90 of a rate is its slow end: the 10th percentile of tokens/s.
        std::sort(rates.begin(), rates.end());
        r.p90 = rates[static_cast<size_t>(0.1 * (rates.size() - 1))];
        decode_rate = r;
      }
      const DeviceMemory mem = engine.device_memory();
      // The host clock's parts of a run (GenerationTimings): what the
      // device timer's total holds besides the forward.
      auto parts = [](const std::vector<Generation>& gens) {
        std::vector<double> assembly, queued, prefill;
        for (const Generation& g : gens) {
          assembly.push_back(g.timings.assembly_ms);
          queued.push_back(g.timings.queued_ms);
          prefill.push_back(g.timings.prefill_ms);
        }
        return std::array<Summary, 3>{summarize(assembly), summarize(queued), summarize(prefill)};
      };
      const std::array<Summary, 3> cached_parts = parts(cached_gens), floor_parts = parts(floor_gens);
      const GenerationTimings& t = cached_gens.front().timings;
      nlohmann::json row = {{"module_tokens", n_module},
                            {"new_tokens", n_new},
                            {"cached_tokens", t.cached_tokens},
                            {"computed_tokens", t.prompt_tokens - t.cached_tokens},
                            {"naive_ms", to_json(*naive_ms)},
                            {"cached_ms", to_json(*cached)},
                            {"floor_ms", to_json(*floor_ms)},
                            {"cached_assembly_ms", to_json(cached_parts[0])},
                            {"cached_queued_ms", to_json(cached_parts[1])},
                            {"cached_prefill_ms", to_json(cached_parts[2])},
                            {"floor_assembly_ms", to_json(floor_parts[0])},
                            {"floor_queued_ms", to_json(floor_parts[1])},
                            {"floor_prefill_ms", to_json(floor_parts[2])},
                            {"kv_bytes", kv_bytes},
                            {"store_device_bytes", engine.cache_stats().device_bytes},
                            {"peak_device_bytes", mem.peak_allocated}};
      if (decode_rate) {
        row["decode_tokens_per_s"] = to_json(*decode_rate);
        row["decode_overlapped_steps"] = overlapped_steps;
      }
      out["results"].push_back(row);
      tokens_done += n_module + n_new;
      tokens_left -= n_module + n_new;
      progress.clear();
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
