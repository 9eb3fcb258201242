// pcache: the command-line front end. Uses only the public API (include/pcache).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

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

void add_sampling_options(CLI::App* cmd, SamplingOptions* s) {
  cmd->add_option("--max-tokens", s->max_tokens, "tokens to generate at most")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--temperature", s->temperature, "0 = greedy")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  cmd->add_option("--top-k", s->top_k, "0 = off")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--top-p", s->top_p, "1 = off")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--seed", s->seed, "random seed for sampling")->capture_default_str();
  cmd->add_flag("--ignore-eos", [s](int64_t) { s->stop_at_eos = false; }, "do not stop at end-of-sequence");
}

void add_cache_options(CLI::App* cmd, EngineOptions* o) {
  cmd->add_option("--cache-dir", o->cache_dir, "module cache directory (disk tier); none by default");
  cmd->add_option("--encoding", o->default_encoding, "encoding of schemas that do not say: scaffold or independent")
      ->check(CLI::IsMember({"scaffold", "independent"}))
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
               "prefill %.1f ms (%d prompt tokens, %d reused from the prefix cache) | first token %.1f ms | "
               "generated %d tokens, decode %.1f ms (%.1f tok/s) | stop: %s\n",
               t.prefill_ms, t.prompt_tokens, t.cached_tokens, t.first_token_ms, t.generated_tokens, t.decode_ms,
               t.decode_tokens_per_s(), pcache::stop_reason_name(gen->stop_reason));
  return 0;
}

std::string shorten(const std::string& path) { return path.empty() ? "(schema text)" : path; }

struct CompileArgs {
  std::string schema_path, model_dir;
  EngineOptions engine;
};

int run_compile(const CompileArgs& a) {
  auto engine = Engine::open(a.model_dir, a.engine);
  if (!engine.ok()) return report(engine.status());
  auto name = (*engine)->add_schema_file(a.schema_path);
  if (!name.ok()) return report(name.status());
  auto modules = (*engine)->compile(*name);
  if (!modules.ok()) return report(modules.status());
  std::printf("schema %s on %s\n", name->c_str(), (*engine)->describe().c_str());
  std::printf("%-32s %7s %15s %12s %10s\n", "module", "tokens", "positions", "bytes", "encode_ms");
  int64_t bytes = 0;
  for (const auto& m : *modules) {
    std::string range = std::to_string(m.first_position) + ".." + std::to_string(m.end_position - 1);
    std::printf("%-32s %7d %15s %12lld %10s\n", shorten(m.module).c_str(), m.tokens, range.c_str(),
                static_cast<long long>(m.bytes), m.was_cached ? "cached" : CLI::detail::to_string(m.encode_ms).c_str());
    bytes += m.bytes;
  }
  std::printf("%zu modules, %lld bytes%s\n", modules->size(), static_cast<long long>(bytes),
              a.engine.cache_dir.empty() ? " (no --cache-dir: nothing kept after exit)" : "");
  return 0;
}

struct RunArgs {
  std::string prompt_path, model_dir;
  std::vector<std::string> schemas;
  EngineOptions engine;
  pcache::RunOptions run;
  bool greedy = false, timings = false, json = false;
};

int run_prompt(RunArgs a) {
  if (a.greedy) a.run.sampling.temperature = 0;
  if (Status s = a.run.sampling.validate(); !s.ok()) return report(s);
  auto engine = Engine::open(a.model_dir, a.engine);
  if (!engine.ok()) return report(engine.status());
  for (const auto& path : a.schemas) {
    auto name = (*engine)->add_schema_file(path);
    if (!name.ok()) return report(name.status());
  }
  auto print = [&](const std::string& piece) {
    if (!a.json) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  auto gen = (*engine)->run_file(a.prompt_path, a.run, print);
  if (!gen.ok()) return report(gen.status());
  const auto& t = gen->timings;
  if (a.json) {
    nlohmann::json j = {{"text", gen->text},
                        {"tokens", gen->tokens},
                        {"stop_reason", pcache::stop_reason_name(gen->stop_reason)},
                        {"cache", a.run.use_cache ? (a.run.read_only ? "read-only" : "on") : "off"},
                        {"timings",
                         {{"prompt_tokens", t.prompt_tokens},
                          {"cached_tokens", t.cached_tokens},
                          {"modules_reused", t.modules_reused},
                          {"modules_encoded", t.modules_encoded},
                          {"assembly_ms", t.assembly_ms},
                          {"prefill_ms", t.prefill_ms},
                          {"first_token_ms", t.first_token_ms},
                          {"generated_tokens", t.generated_tokens},
                          {"decode_ms", t.decode_ms},
                          {"decode_tokens_per_s", t.decode_tokens_per_s()}}}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("\n");
  std::fflush(stdout);
  if (a.timings) {
    std::fprintf(stderr,
                 "prompt %d tokens (%d from cache: %d modules reused, %d encoded now)\n"
                 "assembly %.2f ms | prefill %.2f ms (%d tokens) | first token %.2f ms | decode %d tokens in %.1f ms "
                 "(%.1f tok/s) | stop: %s\n",
                 t.prompt_tokens, t.cached_tokens, t.modules_reused, t.modules_encoded, t.assembly_ms, t.prefill_ms,
                 t.prompt_tokens - t.cached_tokens, t.first_token_ms, t.generated_tokens, t.decode_ms,
                 t.decode_tokens_per_s(), pcache::stop_reason_name(gen->stop_reason));
  }
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
  add_sampling_options(g, &gen.sampling);
  add_engine_options(g, &gen.engine);

  CompileArgs comp;
  CLI::App* c = app.add_subcommand("compile", "Encode every cacheable module of a PML schema into the module store");
  c->add_option("schema", comp.schema_path, "schema file (PML)")->required()->check(CLI::ExistingFile);
  c->add_option("--model", comp.model_dir, "Hugging Face model folder")->required()->check(CLI::ExistingDirectory);
  add_engine_options(c, &comp.engine);
  add_cache_options(c, &comp.engine);

  RunArgs run;
  CLI::App* r = app.add_subcommand("run", "Answer a PML prompt from the module cache");
  r->add_option("prompt", run.prompt_path, "prompt file (PML)")->required()->check(CLI::ExistingFile);
  r->add_option("--model", run.model_dir, "Hugging Face model folder")->required()->check(CLI::ExistingDirectory);
  r->add_option("--schema", run.schemas, "schema file(s) the prompt may use")->check(CLI::ExistingFile);
  r->add_flag("--no-cache", [&](int64_t) { run.run.use_cache = false; },
              "baseline: the same tokens and positions in one plain prefill");
  r->add_flag("--read-only", run.run.read_only, "use cached modules, store nothing new");
  r->add_flag("--greedy", run.greedy, "greedy decoding (temperature 0)");
  r->add_flag("--timings", run.timings, "print assembly, prefill, first-token and decode times");
  r->add_flag("--json", run.json, "print the answer and timings as JSON");
  add_sampling_options(r, &run.run.sampling);
  add_engine_options(r, &run.engine);
  add_cache_options(r, &run.engine);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitError;
  }
  if (*v) return run_verify(verify);
  if (*g) return run_generate(gen);
  if (*c) return run_compile(comp);
  if (*r) return run_prompt(run);
  return kExitError;
}
