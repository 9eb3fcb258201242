// pcache: the command-line front end. Uses only the public API (include/pcache)
// and the configuration file reader.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <vector>

#include "cli/common.h"
#include "pcache/version.h"
#include "util/suggest.h"

namespace pcache::cli {
namespace {

// Ends a streamed generation the way --json / --timings ask.
int finish(const CommonOptions& o, AnswerStream& stream, StatusOr<Generation> gen) {
  if (!gen.ok()) return report(gen.status());
  const std::string stop_reason = stream.finish(&*gen);
  if (o.json) {
    std::printf("%s\n", generation_json(*gen, stop_reason).dump(2).c_str());
    return 0;
  }
  std::printf("\n");
  std::fflush(stdout);
  std::fprintf(stderr, "%s\n", status_line(*gen, stop_reason).c_str());
  if (o.timings) print_steps(gen->steps);
  return 0;
}

// verify's default bar for int8 weights: the share of positions whose top-1
// must agree with the full-precision reference.
constexpr double kInt8MinTop1 = 0.9;

int run_verify(CommonOptions& o, double tolerance, double min_top1,
               const std::string& reference_dir) {
  auto engine = o.open_engine();
  if (!engine.ok()) return report(engine.status());
  std::printf("model: %s\n", (*engine)->describe().c_str());
  // int8 weights are checked for agreement only, under a looser bar
  // (docs/accuracy.md, "int8 weights").
  // int8: --weights int8, or a checkpoint stored so (pcache quantize).
  const bool int8 = (*engine)->describe().find("int8 weights") != std::string::npos;
  const bool full_precision = (*engine)->describe().find("float32") != std::string::npos && !int8;
  if (tolerance < 0 && full_precision) tolerance = 1e-3;
  if (int8 && o.cmd->count("--min-top1") == 0) min_top1 = kInt8MinTop1;
  auto report_or = (*engine)->verify(reference_dir.empty() ? o.model_dir : reference_dir);
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
  const bool ok = (tolerance < 0 || worst <= tolerance) && top1 >= min_top1 && !cases.empty();
  std::printf(
      "%s: max abs error %.3e (tolerance %s), top-1 agreement %.1f%% over %d positions (at least "
      "%.1f%%)\n",
      ok ? "PASS" : "FAIL", worst,
      tolerance < 0 ? "not checked" : CLI::detail::to_string(tolerance).c_str(), 100 * top1,
      static_cast<int>(total), 100 * min_top1);
  std::printf("RoPE frequencies as in the reference: %s\n", report_or->rope_frequencies.c_str());
  return ok ? 0 : kExitFailed;
}

int run_generate(CommonOptions& o, const std::string& prompt, bool chat,
                 const std::string& system) {
  auto engine = o.open_engine();
  if (!engine.ok()) return report(engine.status());
  AnswerStream stream(o);
  if (!chat) return finish(o, stream, (*engine)->generate(prompt, o.sampling, stream.callback()));
  std::vector<ChatMessage> messages;
  if (!system.empty()) messages.push_back({"system", system});
  messages.push_back({"user", prompt});
  return finish(o, stream, (*engine)->generate_chat(messages, o.sampling, stream.callback()));
}

std::string shorten(const std::string& path) { return path.empty() ? "(schema text)" : path; }

int run_compile(CommonOptions& o, const std::string& schema_path) {
  auto engine = o.open_engine();
  if (!engine.ok()) return report(engine.status());
  auto name = (*engine)->add_schema_file(schema_path);
  if (!name.ok()) return report(name.status());
  Progress progress;
  auto modules = (*engine)->compile(
      *name, 0, [&](const std::string& module, int tokens, int index, int count) {
        progress.show("compile: module " + std::to_string(index + 1) + " of " +
                      std::to_string(count) + " (" + shorten(module) + ", " +
                      std::to_string(tokens) + " tokens)");
      });
  progress.clear();
  if (!modules.ok()) return report(modules.status());
  std::printf("schema %s on %s\n", name->c_str(), (*engine)->describe().c_str());
  std::printf("%-32s %7s %15s %12s %10s\n", "module", "tokens", "positions", "bytes", "encode_ms");
  int64_t bytes = 0;
  for (const auto& m : *modules) {
    std::string range =
        std::to_string(m.first_position) + ".." + std::to_string(m.end_position - 1);
    std::printf("%-32s %7d %15s %12lld %10s\n", shorten(m.module).c_str(), m.tokens, range.c_str(),
                static_cast<long long>(m.bytes),
                m.was_cached ? "cached" : format_ms(m.encode_ms).c_str());
    bytes += m.bytes;
  }
  std::printf("%zu modules, %lld bytes%s\n", modules->size(), static_cast<long long>(bytes),
              o.engine.cache_dir.empty() ? " (no --cache-dir: nothing kept after exit)" : "");
  return 0;
}

// --inputs: the prompt is cached once, then every input runs on it, as one
// batch and one by one, and the two throughputs are compared.
int run_inputs(Engine& engine, CommonOptions& o, const std::string& prompt_path,
               const std::string& inputs_path) {
  auto lines = read_lines(inputs_path, "--inputs");
  if (!lines.ok()) return report(lines.status());
  const std::vector<std::string>& inputs = *lines;
  if (inputs.empty())
    return report(Status::invalid_argument(inputs_path + ": no inputs (one per line)"));
  auto prompt = read_text(prompt_path, "a PML prompt");
  if (!prompt.ok()) return report(prompt.status());
  auto cached = engine.cache_pml(*prompt, prompt_path);
  if (!cached.ok()) return report(cached.status());
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  auto batch = engine.text_completion(cached->state, inputs, o.sampling);
  if (!batch.ok()) return report(batch.status());
  const double batch_s = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  int one_tokens = 0;
  for (const auto& input : inputs) {
    auto g = engine.text_completion(cached->state, input, o.sampling);
    if (!g.ok()) return report(g.status());
    one_tokens += g->timings.generated_tokens;
  }
  const double one_s = std::chrono::duration<double>(Clock::now() - t0).count();
  int batch_tokens = 0;
  nlohmann::json answers = nlohmann::json::array();
  for (size_t i = 0; i < inputs.size(); ++i) {
    batch_tokens += (*batch)[i].timings.generated_tokens;
    if (o.json) {
      const Generation& g = (*batch)[i];
      answers.push_back(
          {{"input", inputs[i]}, {"answer", generation_json(g, stop_reason_name(g.stop_reason))}});
    } else {
      std::printf("[%zu] %s\n    -> %s\n", i + 1, inputs[i].c_str(), (*batch)[i].text.c_str());
    }
  }
  const double batch_tps = batch_tokens / batch_s, one_tps = one_tokens / one_s;
  if (o.json) {
    std::printf(
        "%s\n",
        nlohmann::json(
            {{"answers", answers},
             {"batched",
              {{"seconds", batch_s}, {"tokens", batch_tokens}, {"tokens_per_s", batch_tps}}},
             {"one_by_one",
              {{"seconds", one_s}, {"tokens", one_tokens}, {"tokens_per_s", one_tps}}}})
            .dump(2)
            .c_str());
  } else {
    std::printf(
        "%zu inputs: batched %.3f s (%d tokens, %.1f tok/s), one by one %.3f s (%d tokens, %.1f "
        "tok/s): %.2fx\n",
        inputs.size(), batch_s, batch_tokens, batch_tps, one_s, one_tokens, one_tps,
        one_s / batch_s);
  }
  return 0;
}

int run_prompt(CommonOptions& o, const std::string& prompt_path,
               const std::vector<std::string>& schemas, RunOptions run,
               const std::string& inputs_path) {
  auto engine = o.open_engine();
  if (!engine.ok()) return report(engine.status());
  for (const auto& path : schemas) {
    auto name = (*engine)->add_schema_file(path);
    if (!name.ok()) return report(name.status());
  }
  if (!inputs_path.empty()) return run_inputs(**engine, o, prompt_path, inputs_path);
  run.sampling = o.sampling;
  AnswerStream stream(o);
  return finish(o, stream, (*engine)->run_file(prompt_path, run, stream.callback()));
}

std::string did_you_mean(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "; did you mean " : " or ") + w;
  return out.empty() ? out : out + "?";
}

// A mistyped command or option, named with the nearest known ones. (CLI11
// would say "A subcommand is required", or name a required option that the
// typo left out.) Empty when every word is known.
std::string unknown_word(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return "";
  const std::string command = argv[1];
  const CLI::App* sub = nullptr;
  std::vector<std::string> commands;
  for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; })) {
    commands.push_back(s->get_name());
    if (s->get_name() == command) sub = s;
  }
  if (!sub) {
    std::string all;
    for (const std::string& c : commands) all += (all.empty() ? "" : ", ") + c;
    return "unknown command '" + command + "'" + did_you_mean(nearest_words(command, commands)) +
           " (commands: " + all + ")";
  }
  std::vector<std::string> flags;
  for (const CLI::Option* o : sub->get_options()) {
    for (const std::string& name : o->get_lnames()) flags.push_back("--" + name);
  }
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.rfind("--", 0) != 0) continue;
    const std::string flag = arg.substr(0, arg.find('='));
    if (std::find(flags.begin(), flags.end(), flag) == flags.end()) {
      return "unknown option " + flag + " for " + command +
             did_you_mean(nearest_words(flag, flags)) + " (" + command + " --help lists them)";
    }
  }
  return "";
}

}  // namespace
}  // namespace pcache::cli

int main(int argc, char** argv) {
  using namespace pcache::cli;
  using O = CommonOptions;  // its option groups
  CLI::App app{"pcache: modular prompt caching for Llama, Mistral and Qwen models"};
  app.require_subcommand(1);
  app.footer(kExitCodes);
  app.set_version_flag("--version", [] {
    return std::string("pcache ") + pcache::kVersion + " (" + pcache::build_info() +
           ")\ndevices: " + pcache::devices_info();
  });

  CommonOptions verify;
  std::string verify_model, reference_dir;
  double tolerance = -1, min_top1 = 0.95;
  CLI::App* v = app.add_subcommand(
      "verify", "Check a checkpoint against its reference logits (reference.safetensors)");
  v->add_option("model_dir", verify_model, "Hugging Face model folder")
      ->required()
      ->check(CLI::ExistingDirectory);
  v->add_option("--reference", reference_dir,
                "folder of reference.safetensors (default: the model folder)");
  v->add_option("--tolerance", tolerance, "max abs logit error allowed (default 1e-3 in float32)")
      ->check(CLI::Range(0.0, 1e9));
  v->add_option("--min-top1", min_top1, "share of positions whose top-1 must agree")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  verify.add_to(v, O::kLoading);

  std::string quantize_model, quantize_out;
  bool quantize_zero_point = false;
  CLI::App* qz = app.add_subcommand(
      "quantize", "Write a model folder's projection weights as int8 into a new folder");
  qz->add_option("model_dir", quantize_model, "Hugging Face model folder (bfloat16, float16 or float32)")
      ->required()
      ->check(CLI::ExistingDirectory);
  qz->add_option("out_dir", quantize_out,
                 "new folder, not there yet or empty (default: model_dir followed by -int8 or -int8-zp)");
  qz->add_flag("--zero-point", quantize_zero_point,
               "the int8-zp form: each row's range [min, max] in 256 steps, an offset per row");

  CommonOptions gen;
  std::string prompt, system;
  bool chat_template = false;
  CLI::App* g = app.add_subcommand("generate", "Full-prefill generation with streamed output");
  std::string prompt_file;
  CLI::Option* prompt_opt = g->add_option("-p,--prompt", prompt, "prompt text");
  g->add_option("-f,--file", prompt_file, "read the prompt from this file (- for standard input)")
      ->excludes(prompt_opt);
  g->add_flag("--chat", chat_template, "wrap the prompt in the model's chat template");
  g->add_option("--system", system, "system message (with --chat)");
  gen.add_to(g, O::kModelFlag | O::kLoading | O::kServing | O::kSampling | O::kStop | O::kOutput);

  CommonOptions comp;
  std::string schema_path;
  CLI::App* c = app.add_subcommand(
      "compile", "Encode every cacheable module of a PML schema into the module store");
  c->add_option("schema", schema_path, "schema file (PML)")->required()->check(CLI::ExistingFile);
  comp.add_to(c, O::kModelFlag | O::kLoading | O::kModuleCache | O::kServing);

  CommonOptions run;
  std::string prompt_path, inputs_path;
  std::vector<std::string> schemas;
  pcache::RunOptions run_options;
  bool greedy = false;
  CLI::App* r = app.add_subcommand("run", "Answer a PML prompt from the module cache");
  r->add_option("prompt", prompt_path, "prompt file (PML)")->required()->check(CLI::ExistingFile);
  r->add_option("--schema", schemas, "schema file(s) the prompt may use")->check(CLI::ExistingFile);
  r->add_flag(
      "--no-cache", [&](int64_t) { run_options.use_cache = false; },
      "baseline: the same tokens and positions in one plain prefill");
  r->add_flag("--read-only", run_options.read_only, "use cached modules, store nothing new");
  r->add_flag("--greedy", greedy, "greedy decoding (temperature 0)");
  CLI::Option* inputs =
      r->add_option("--inputs", inputs_path,
                    "file of inputs, one per line, run on the cached prompt as one batch")
          ->check(CLI::ExistingFile);
  run.add_to(r, O::kModelFlag | O::kLoading | O::kModuleCache | O::kServing | O::kSampling |
                    O::kStop | O::kOutput);
  inputs->excludes("--stop");

  CommonOptions chat;
  ChatOptions chat_options;
  CLI::App* h = app.add_subcommand(
      "chat", "Interactive chat on saved states (one user turn per line from a pipe)");
  h->add_option("--schema", chat_options.schema, "schema of --prompt")->check(CLI::ExistingFile);
  h->add_option("--prompt", chat_options.prompt, "PML prompt whose modules start the conversation")
      ->check(CLI::ExistingFile);
  h->add_option("--system", chat_options.system, "system prompt (instead of --prompt)");
  h->add_option("--save", chat_options.save_path,
                "save the conversation's state to this snapshot file at the end");
  CLI::Option* load = h->add_option("--load", chat_options.load_path, "start from a snapshot file")
                          ->check(CLI::ExistingFile);
  h->add_option(
      "--save-remote", chat_options.save_remote,
      "save the conversation's state to the remote tier (--remote) under this name at the end");
  h->add_option("--load-remote", chat_options.load_remote,
                "start from the state saved in the remote tier (--remote) under this name")
      ->excludes(load);
  chat.add_to(h, O::kModelFlag | O::kLoading | O::kModuleCache | O::kStates | O::kServing |
                     O::kSampling | O::kStop | O::kOutput);

  CommonOptions bench;
  BenchOptions bench_options;
  CLI::App* bn = app.add_subcommand(
      "bench", "Time to first token: naive prefill, module cache and floor, by length");
  bn->add_option("--module-tokens", bench_options.module_tokens,
                 "module lengths in tokens, comma-separated (4k = 4096)")
      ->capture_default_str();
  bn->add_option("--new-tokens", bench_options.new_tokens,
                 "new-text lengths in tokens, comma-separated")
      ->capture_default_str();
  bn->add_option("--warmup", bench_options.warmup, "untimed runs first")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  bn->add_option("--repeats", bench_options.repeats, "timed runs")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  bn->add_option("--decode-tokens", bench_options.decode_tokens,
                 "tokens decoded after the prompt (0: no decode)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  bn->add_option("--decode-repeats", bench_options.decode_repeats, "timed decodes")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  // How the decodes and the --concurrency requests pick their tokens (not
  // the configuration's sampling section: a benchmark is greedy unless asked).
  add_token_choice_options(bn, bench_options.temperature, bench_options.top_k, bench_options.top_p);
  bn->add_option("--concurrency", bench_options.concurrency,
                 "requests at once, e.g. 1,4,16,64: each a prompt over one shared module of the "
                 "first --module-tokens plus its own question of the first --new-tokens, "
                 "generating --decode-tokens; reports TTFT, time per token, output tokens/s");
  bn->add_option("--out", bench_options.out, "JSON results file (default: stdout)");
  bn->add_option("--name", bench_options.name, "model name in the results");
  bn->add_flag("--random-weights", bench.engine.random_weights,
               "--model is a config.json (or its folder): random weights at its shapes");
  bn->add_option("--tokenizer", bench.engine.tokenizer,
                 "tokenizer.model or tokenizer.json (default: the model folder's)")
      ->check(CLI::ExistingFile);
  bench.add_to(bn, O::kModelFlag | O::kLoading | O::kModuleCache | O::kServing);

  CommonOptions eval;
  EvalOptions eval_options;
  CLI::App* ev = app.add_subcommand(
      "eval", "Answer quality: full prefill, prefix cache and module cache (both modes)");
  ev->add_option("data", eval_options.data_dir, "folder written by tools/restaurant_data.py")
      ->required()
      ->check(CLI::ExistingDirectory);
  ev->add_option("--questions", eval_options.questions,
                 "questions file (default: DATA/eval.jsonl)");
  ev->add_option("--limit", eval_options.limit, "questions at most (0: all)")
      ->check(CLI::Range(0, 1000000));
  ev->add_option("--out", eval_options.out, "JSON file with every answer");
  ev->add_option("--require-exact", eval_options.require_exact,
                 "methods whose every answer must equal the gold one (exit code 1 otherwise)")
      ->delimiter(',')
      ->check(CLI::IsMember({"full", "prefix", "scaffold", "independent", "pml_nocache"}));
  eval.add_to(ev, O::kModelFlag | O::kLoading | O::kModuleCache | O::kServing | O::kSampling);

  CommonOptions tokenize;
  TokenizeOptions tokenize_options;
  CLI::App* tk = app.add_subcommand(
      "tokenize", "Print the token ids of a text (or of a conversation in the chat template)");
  tk->add_option("text", tokenize_options.text, "text to tokenize");
  tk->add_option("--file", tokenize_options.file, "tokenize this file's whole text as one string")
      ->check(CLI::ExistingFile);
  tk->add_option("--messages", tokenize_options.messages,
                 "JSON list of {role, content} messages: the chat template with the generation "
                 "prompt, printed as {\"text\", \"ids\"}")
      ->check(CLI::ExistingFile);
  tk->add_flag("--pieces", tokenize_options.pieces, "print the pieces too");
  tk->add_flag("--special", tokenize_options.special,
               "parse special tokens in the text and add bos (as the tokenizer does by default)");
  tk->add_option("--tokenizer", tokenize.engine.tokenizer,
                 "tokenizer.model or tokenizer.json (default: the model folder's)")
      ->check(CLI::ExistingFile);
  tokenize.add_to(tk, O::kModelFlag);

#if PCACHE_HAVE_SERVER
  CommonOptions serve;
  pcache::ServerOptions server_options;
  CLI::App* sv = app.add_subcommand(
      "serve", "OpenAI-compatible HTTP server with module-cached prompts and saved states");
  sv->add_option("--host", server_options.host, "address to listen on")->capture_default_str();
  sv->add_option("--port", server_options.port, "port (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  sv->add_option("--schema", server_options.schemas,
                 "schema file or folder of *.xml to register and compile at start (repeatable)")
      ->check(CLI::ExistingPath);
  sv->add_option("--model-name", server_options.model_name,
                 "model id in /v1/models (default: the model folder's name)");
  sv->add_option("--api-key", server_options.api_keys,
                 "require \"Authorization: Bearer KEY\" (repeatable; also $PCACHE_API_KEY)");
  sv->add_option("--api-key-file", server_options.api_key_file, "file of API keys, one a line")
      ->check(CLI::ExistingFile);
  sv->add_flag("--shared-cache", server_options.shared_cache,
               "let all API keys share prefixes and states (default: each key its own)");
  sv->add_option("--state-dir", server_options.state_dir,
                 "folder for saved-state snapshots (save/load by name; none by default)");
  sv->add_option("--max-body-bytes", server_options.max_body_bytes, "largest request body, e.g. 4MiB")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  sv->add_option("--max-prompt-tokens", server_options.max_prompt_tokens,
                 "longest prompt in tokens (0: the model's context)")
      ->check(CLI::Range(0, 1 << 24))
      ->capture_default_str();
  sv->add_option("--max-tokens-limit", server_options.max_tokens_limit,
                 "largest max_tokens a request may ask for")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  sv->add_option("--max-concurrent", server_options.max_concurrent, "requests generating at once")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  sv->add_option("--max-queue", server_options.max_queue,
                 "requests waiting beyond those; more get 429")
      ->check(CLI::Range(0, 65536))
      ->capture_default_str();
  sv->add_option("--shutdown-grace", server_options.shutdown_grace_s,
                 "seconds in-flight requests may finish after SIGTERM")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  sv->add_option("--log-format", server_options.log_format, "one line per request: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  sv->add_flag("--random-weights", serve.engine.random_weights,
               "--model is a config.json (or its folder): random weights at its shapes (benchmarks)");
  sv->add_option("--tokenizer", serve.engine.tokenizer,
                 "tokenizer.model or tokenizer.json (default: the model folder's)")
      ->check(CLI::ExistingFile);
  serve.add_to(sv, O::kModelFlag | O::kLoading | O::kModuleCache | O::kStates | O::kServing |
               O::kSampling);
  serve.server = &server_options;
#endif

  if (const std::string unknown = unknown_word(app, argc, argv); !unknown.empty()) {
    return usage_error(unknown);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  std::vector<CommonOptions*> commands = {&verify, &gen, &comp, &run, &chat, &bench, &eval,
                                         &tokenize};
#if PCACHE_HAVE_SERVER
  commands.push_back(&serve);
#endif
  for (CommonOptions* o : commands) {
    if (*o->cmd) {
      if (o == &verify) o->model_dir = verify_model;
      if (pcache::Status s = o->resolve(); !s.ok()) return report(s);
    }
  }
  if (*v) return run_verify(verify, tolerance, min_top1, reference_dir);
  if (*qz) return run_quantize(quantize_model, quantize_out, quantize_zero_point);
  if (*g) {
    if (!prompt_file.empty()) {
      auto text = read_text_or_stdin(prompt_file, "prompt file");
      if (!text.ok()) return report(text.status());
      prompt = *std::move(text);
    } else if (g->count("--prompt") == 0) {
      return usage_error("generate: give --prompt TEXT or --file FILE");
    }
    if (!system.empty() && !chat_template) {
      return usage_error(
          "generate: --system is a chat message; add --chat (or put it in --prompt)");
    }
    return run_generate(gen, prompt, chat_template, system);
  }
  if (*c) return run_compile(comp, schema_path);
  if (*r) {
    if (greedy) run.sampling.temperature = 0;
    return run_prompt(run, prompt_path, schemas, run_options, inputs_path);
  }
  if (*bn) return run_bench(bench, bench_options);
  if (*tk) return run_tokenize(tokenize, tokenize_options);
#if PCACHE_HAVE_SERVER
  if (*sv) return run_serve(serve, server_options);
#endif
  if (*ev) {
    if (eval_options.questions.empty())
      eval_options.questions = eval_options.data_dir + "/eval.jsonl";
    return run_eval(eval, eval_options);
  }
  if (*h) {
    if (!chat_options.prompt.empty() && !chat_options.system.empty()) {
      return usage_error("chat: give --prompt or --system, not both");
    }
    if ((!chat_options.load_path.empty() || !chat_options.load_remote.empty()) &&
        (!chat_options.prompt.empty() || !chat_options.system.empty())) {
      // The loaded conversation has its start already.
      return usage_error(
          "chat: --load continues a saved conversation; --prompt and --system start a new one");
    }
    return run_chat(chat, chat_options);
  }
  return kExitUsage;
}
