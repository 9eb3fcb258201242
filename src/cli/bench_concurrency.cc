#include "cli/bench_concurrency.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <future>
#include <iomanip>
#include <iostream>
#include <string>
#include <thread>

#include "cli/bench_util.h"

namespace pcache::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Outcome {
  Status status;
  double ttft_ms = 0;  // from the call to its first token
  double tpot_ms = 0;  // decode time per token after the first
  int tokens = 0;
};

}  // namespace

Status bench_concurrency(Engine& engine, const BenchOptions& b,
                         const std::vector<int64_t>& concurrency, nlohmann::json& out) {
  Status bad;
  const int64_t module_tokens = parse_lengths(b.module_tokens, "--module-tokens", &bad).front();
  const int64_t new_tokens = parse_lengths(b.new_tokens, "--new-tokens", &bad).front();
  PCACHE_RETURN_IF_ERROR(bad);
  if (b.decode_tokens < 1) return Status::invalid_argument("--decode-tokens must be >= 1 with --concurrency");
  PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, engine.tokenizer());
  const std::string schema = "shared_" + std::to_string(module_tokens);
  PCACHE_RETURN_IF_ERROR(engine
                             .add_schema("<schema name=\"" + schema + "\"><module name=\"doc\">" +
                                             words_text(*tok, module_tokens, 1) + "</module></schema>",
                                         schema + ".xml")
                             .status());
  PCACHE_RETURN_IF_ERROR(engine.compile(schema).status());
  RunOptions options;
  options.sampling.max_tokens = b.decode_tokens;
  options.sampling.stop_at_eos = false;
  options.sampling.temperature = b.temperature;
  options.sampling.top_k = b.top_k;
  options.sampling.top_p = b.top_p;

  // One round: n requests released at once; returns the wall time.
  auto round = [&](int64_t n, std::vector<Outcome>& outcomes) {
    outcomes.assign(static_cast<size_t>(n), Outcome{});
    std::promise<void> go;
    std::shared_future<void> start = go.get_future().share();
    std::vector<std::thread> threads;
    for (int64_t i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        const std::string prompt = "<prompt schema=\"" + schema + "\"><doc/><user>" +
                                   words_text(*tok, new_tokens, 100 + static_cast<uint64_t>(i)) +
                                   "</user></prompt>";
        start.wait();
        StatusOr<Generation> g = engine.run(prompt, options);
        Outcome& o = outcomes[static_cast<size_t>(i)];
        if (!g.ok()) {
          o.status = g.status();
          return;
        }
        o.ttft_ms = g->timings.first_token_ms;
        o.tokens = g->timings.generated_tokens;
        o.tpot_ms = o.tokens > 1 ? g->timings.decode_ms / (o.tokens - 1) : 0;
      });
    }
    const auto t0 = Clock::now();
    go.set_value();
    for (auto& t : threads) t.join();
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };

  std::cerr << std::setw(6) << "N" << std::setw(12) << "TTFT p50" << std::setw(10) << "p99"
            << std::setw(12) << "TPOT p50" << std::setw(10) << "p99" << std::setw(12) << "out tok/s"
            << std::setw(14) << "pool peak MiB" << std::setw(10) << "batch" << std::setw(10)
            << "step ms" << std::setw(10) << "fwd ms" << "\n";
  const int rounds = std::max(1, std::min(b.repeats, 3));
  for (int64_t n : concurrency) {
    std::vector<Outcome> outcomes;
    for (int w = 0; w < std::max(1, b.warmup); ++w) round(n, outcomes);
    engine.synchronize();
    engine.reset_peak_serving();
    engine.reset_peak_device_memory();
    const ServingStats before = engine.serving_stats();
    std::vector<double> ttft, tpot;
    double wall = 0;
    int64_t tokens = 0;
    for (int r = 0; r < rounds; ++r) {
      wall += round(n, outcomes);
      for (const Outcome& o : outcomes) {
        PCACHE_RETURN_IF_ERROR(o.status);
        ttft.push_back(o.ttft_ms);
        tpot.push_back(o.tpot_ms);
        tokens += o.tokens;
      }
    }
    const ServingStats s = engine.serving_stats();
    const double rate = tokens / wall;
    const int64_t peak_pool = s.peak_blocks_in_use * s.block_bytes;
    // Per step of the timed rounds: all of it, and the forward's part.
    const double steps = static_cast<double>(std::max<int64_t>(1, s.steps - before.steps));
    const double step_ms = (s.step_ms - before.step_ms) / steps;
    const double forward_ms = (s.forward_ms - before.forward_ms) / steps;
    nlohmann::json row = {
        {"concurrency", n},
        {"module_tokens", module_tokens},
        {"new_tokens", new_tokens},
        {"generated_tokens_each", b.decode_tokens},
        {"rounds", rounds},
        {"ttft_ms", {{"p50", percentile(ttft, 0.5)}, {"p99", percentile(ttft, 0.99)}}},
        {"tpot_ms", {{"p50", percentile(tpot, 0.5)}, {"p99", percentile(tpot, 0.99)}}},
        {"output_tokens_per_s", rate},
        {"pool_peak_bytes", peak_pool},
        {"pool_bytes", s.blocks * s.block_bytes},
        {"max_batch", s.max_batch},
        {"preemptions", s.preemptions},
        {"steps", s.steps - before.steps},
        {"step_ms", step_ms},
        {"forward_ms", forward_ms},
        {"graph_captures", s.graph_captures},
        {"overlapped_steps", s.overlapped_steps - before.overlapped_steps},
        {"peak_device_bytes", engine.device_memory().peak_allocated}};
    out["results"].push_back(row);
    std::cerr << std::fixed << std::setprecision(2) << std::setw(6) << n << std::setw(12)
              << percentile(ttft, 0.5) << std::setw(10) << percentile(ttft, 0.99) << std::setw(12)
              << percentile(tpot, 0.5) << std::setw(10) << percentile(tpot, 0.99) << std::setw(12)
              << std::setprecision(1) << rate << std::setw(14) << peak_pool / 1048576.0
              << std::setw(10) << s.max_batch << std::setprecision(2) << std::setw(10) << step_ms
              << std::setw(10) << forward_ms << "\n";
    if (!b.out.empty()) {
      std::ofstream f(b.out);
      f << out.dump(2) << "\n";
      if (!f) return Status::io_error(b.out + ": cannot write the results");
    }
  }
  return Status::ok_status();
}

}  // namespace pcache::cli
