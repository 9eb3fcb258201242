// pcache: the command-line front end. Uses only the public API (include/pcache).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "pcache/engine.h"

namespace {

using pcache::Engine;
using pcache::EngineOptions;
using pcache::SamplingOptions;
using pcache::Status;

constexpr int kExitFailed = 1;  // the command ran and its check failed
constexpr int kExitError = 2;   // bad input or a runtime error

int report(const Status& s) {
  std::cerr << "pcache: " << s.to_string() << "\n";
  return kExitError;
}

void add_engine_options(CLI::App* cmd, EngineOptions* o) {
  cmd->add_option("--device", o->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "auto, float32, bfloat16 or float16")->capture_default_str();
  cmd->add_option("--chat-template", o->chat_template, "auto, mistral or llama2")
      ->capture_default_str();
}

struct VerifyArgs {
  std::string model_dir, reference_dir;
  EngineOptions engine;
  double tolerance = -1;  // < 0: 1e-3 in float32, unchecked in lower precision
  double min_top1 = 0.95;
};

int run_verify(const VerifyArgs& a) {
  auto engine = Engine::open(a.model_dir, a.engine);
  if (!engine.ok()) return report(engine.status());
  std::printf("model: %s\n", (*engine)->describe().c_str());
  const bool full_precision = (*engine)->describe().find("float32") != std::string::npos;
  const double tolerance = a.tolerance >= 0 ? a.tolerance : (full_precision ? 1e-3 : -1);
  auto report_or = (*engine)->verify(a.reference_dir.empty() ? a.model_dir : a.reference_dir);
  if (!report_or.ok()) return report(report_or.status());
  const auto& cases = report_or->cases;
  std::printf("%-28s %7s %12s %8s\n", "case", "tokens", "max_abs_err", "top1");
  double worst = 0, agree = 0, total = 0;
  for (const auto& c : cases) {
    std::printf("%-28s %7lld %12.3e %7.1f%%\n", c.name.c_str(), static_cast<long long>(c.tokens),
                c.max_abs_error, 100 * c.top1_agreement);
    worst = std::max(worst, c.max_abs_error);
    agree += c.top1_agreement * c.tokens;
    total += c.tokens;
  }
  const double top1 = total > 0 ? agree / total : 0;
  const bool ok = (tolerance < 0 || worst <= tolerance) && top1 >= a.min_top1 && !cases.empty();
  std::printf(
      "%s: max abs error %.3e (tolerance %s), top-1 agreement %.1f%% over %d positions (at least "
      "%.1f%%)\n",
      ok ? "PASS" : "FAIL", worst,
      tolerance < 0 ? "not checked" : CLI::detail::to_string(tolerance).c_str(), 100 * top1,
      static_cast<int>(total), 100 * a.min_top1);
  std::printf("RoPE frequencies as in the reference: %s\n", report_or->rope_frequencies.c_str());
  return ok ? 0 : kExitFailed;
}

struct GenerateArgs {
  std::string model_dir, prompt, system;
  bool chat = false;
  EngineOptions engine;
  SamplingOptions sampling;
};

int run_generate(const GenerateArgs& a) {
  if (Status s = a.sampling.validate(); !s.ok()) return report(s);
  auto engine = Engine::open(a.model_dir, a.engine);
  if (!engine.ok()) return report(engine.status());
  auto print = [](const std::string& piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  };
  pcache::StatusOr<pcache::Generation> gen = Status::internal("not run");
  if (a.chat) {
    std::vector<pcache::ChatMessage> messages;
    if (!a.system.empty()) messages.push_back({"system", a.system});
    messages.push_back({"user", a.prompt});
    gen = (*engine)->generate_chat(messages, a.sampling, print);
  } else {
    gen = (*engine)->generate(a.prompt, a.sampling, print);
  }
  if (!gen.ok()) return report(gen.status());
  const auto& t = gen->timings;
  std::printf("\n");
  std::fflush(stdout);
  std::fprintf(stderr,
               "prefill %.1f ms (%d prompt tokens) | generated %d tokens, decode %.1f ms (%.1f "
               "tok/s) | stop: %s\n",
               t.prefill_ms, t.prompt_tokens, t.generated_tokens, t.decode_ms,
               t.decode_tokens_per_s(), pcache::stop_reason_name(gen->stop_reason));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pcache: modular prompt caching for Llama and Mistral models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "pcache 0.1.0");

  VerifyArgs verify;
  CLI::App* v = app.add_subcommand(
      "verify", "Check a checkpoint against its reference logits (reference.safetensors)");
  v->add_option("model_dir", verify.model_dir, "Hugging Face model folder")
      ->required()
      ->check(CLI::ExistingDirectory);
  v->add_option("--reference", verify.reference_dir,
                "folder of reference.safetensors (default: the model folder)");
  v->add_option("--tolerance", verify.tolerance,
                "max abs logit error allowed (default 1e-3 in float32)")
      ->check(CLI::Range(0.0, 1e9));
  v->add_option("--min-top1", verify.min_top1, "share of positions whose top-1 must agree")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  add_engine_options(v, &verify.engine);

  GenerateArgs gen;
  CLI::App* g = app.add_subcommand("generate", "Full-prefill generation with streamed output");
  g->add_option("--model", gen.model_dir, "Hugging Face model folder")
      ->required()
      ->check(CLI::ExistingDirectory);
  g->add_option("--prompt", gen.prompt, "prompt text")->required();
  g->add_flag("--chat", gen.chat, "wrap the prompt in the model's chat template");
  g->add_option("--system", gen.system, "system message (with --chat)");
  g->add_option("--max-tokens", gen.sampling.max_tokens, "tokens to generate at most")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  g->add_option("--temperature", gen.sampling.temperature, "0 = greedy")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  g->add_option("--top-k", gen.sampling.top_k, "0 = off")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  g->add_option("--top-p", gen.sampling.top_p, "1 = off")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  g->add_option("--seed", gen.sampling.seed, "random seed for sampling")->capture_default_str();
  g->add_flag(
      "--ignore-eos", [&](int64_t) { gen.sampling.stop_at_eos = false; },
      "do not stop at end-of-sequence");
  add_engine_options(g, &gen.engine);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitError;
  }
  if (*v) return run_verify(verify);
  if (*g) return run_generate(gen);
  return kExitError;
}
