// Instruct-style prompt caching (seed 000) and single-document Q&A (seed 001):
// the task instructions, or the document, are prefilled once and kept as a
// saved state; every input then prefills only itself. Inputs run one by one
// and as one batch, and each is compared with a plain full prefill.
//
//   instruct MODEL_DIR INSTRUCTIONS INPUTS DOCUMENT QUESTIONS [--max-tokens N]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pcache/engine.h"

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

void print_steps(const std::vector<pcache::StepTiming>& steps) {
  std::printf("  %-12s %10s %8s\n", "step", "time_ms", "tokens");
  for (const auto& s : steps) std::printf("  %-12s %10.2f %8d\n", s.step.c_str(), s.ms, s.tokens);
}

bool fail(const pcache::Status& s) {
  std::fprintf(stderr, "%s\n", s.to_string().c_str());
  return false;
}

// Caches `context`, then answers each input from the cache and from scratch.
bool cached_task(pcache::Engine& engine, const std::string& title, const std::string& context,
                 const std::vector<std::string>& inputs, const pcache::SamplingOptions& sampling) {
  std::printf("#### %s\n", title.c_str());
  auto cached = engine.cache_prompt(context);
  if (!cached.ok()) return fail(cached.status());
  std::printf("cached %d tokens as state %llu\n", cached->tokens, static_cast<unsigned long long>(cached->state));
  print_steps(cached->steps);
  double cached_ms = 0, full_ms = 0;
  for (const auto& input : inputs) {
    auto answer = engine.text_completion(cached->state, "\n" + input, sampling);
    if (!answer.ok()) return fail(answer.status());
    auto full = engine.generate(context + "\n" + input, sampling);  // the same text without the saved state
    if (!full.ok()) return fail(full.status());
    std::printf("%s\n  -> %s\n", input.c_str(), answer->text.c_str());
    print_steps(answer->steps);
    std::printf("  time to first token: cached %.2f ms, full prefill %.2f ms\n", answer->timings.first_token_ms,
                full->timings.first_token_ms);
    cached_ms += answer->timings.first_token_ms;
    full_ms += full->timings.first_token_ms;
  }
  std::vector<std::string> batch_inputs;
  for (const auto& input : inputs) batch_inputs.push_back("\n" + input);
  auto t0 = std::chrono::steady_clock::now();
  auto batch = engine.text_completion(cached->state, batch_inputs, sampling);
  if (!batch.ok()) return fail(batch.status());
  const double batch_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s: %zu inputs, mean time to first token cached %.2f ms vs full prefill %.2f ms; "
              "all inputs as one batch %.1f ms\n\n",
              title.c_str(), inputs.size(), cached_ms / inputs.size(), full_ms / inputs.size(), batch_ms);
  return engine.release(cached->state).ok();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: %s MODEL_DIR INSTRUCTIONS INPUTS DOCUMENT QUESTIONS [--max-tokens N]\n", argv[0]);
    return 2;
  }
  pcache::SamplingOptions sampling;  // greedy
  sampling.max_tokens = argc >= 8 && std::string(argv[6]) == "--max-tokens" ? std::atoi(argv[7]) : 16;
  pcache::EngineOptions options;
  options.prefix_cache = false;  // so that the "full prefill" figures really prefill everything
  auto engine = pcache::Engine::open(argv[1], options);
  if (!engine.ok()) {
    fail(engine.status());
    return 1;
  }
  std::printf("%s\n\n", (*engine)->describe().c_str());
  bool ok = cached_task(**engine, "instruct: classify messages", read_text(argv[2]), read_lines(argv[3]), sampling);
  std::vector<std::string> questions;
  for (const auto& q : read_lines(argv[5])) questions.push_back("Question: " + q + "\nAnswer:");
  ok = ok && cached_task(**engine, "document Q&A", "Read this notice.\n" + read_text(argv[4]), questions, sampling);
  return ok ? 0 : 1;
}
