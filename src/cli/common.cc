#include "cli/common.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>
#include <utility>

#include "config/config.h"
#include "pcache/default_model.h"
#include "util/file_util.h"

namespace pcache::cli {

int report(const Status& s) {
  std::cerr << "pcache: " << s.to_string() << "\n";
  switch (s.code()) {
    case StatusCode::kIoError:
    case StatusCode::kResourceExhausted:
    case StatusCode::kInternal:
    case StatusCode::kCancelled: return kExitInternal;
    default: return kExitInput;
  }
}

int usage_error(const std::string& message) {
  std::cerr << "pcache: " << message << "\n";
  return kExitUsage;
}

StatusOr<std::string> read_text(const std::string& path, const std::string& what) {
  return read_file(path, kMaxTextFileBytes, what);
}

StatusOr<std::string> read_text_or_stdin(const std::string& path, const std::string& what) {
  if (path != "-") return read_text(path, what);
  std::string text;
  char buf[1 << 16];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, stdin)) > 0;) {
    text.append(buf, n);
    if (text.size() > kMaxTextFileBytes) {
      return Status::invalid_argument(what + " on standard input is over " +
                                      std::to_string(kMaxTextFileBytes) + " bytes");
    }
  }
  return text;
}

StatusOr<std::vector<std::string>> read_lines(const std::string& path, const std::string& what) {
  PCACHE_ASSIGN_OR_RETURN(std::string text, read_text(path, what));
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

void CommonOptions::add_to(CLI::App* app, unsigned groups) {
  cmd = app;
  app->footer([this, groups] { return help_footer(groups & kModelFlag); });
  app->add_option("-c,--config", config_path,
                  "YAML configuration (default: $PCACHE_CONFIG or ~/.config/pcache/config.yaml)");
  if (groups & kModelFlag)
    app->add_option("-m,--model", model_dir,
                    "Hugging Face model folder (bench --random-weights: or a config.json)")
        ->check(CLI::ExistingPath);
  app->add_option("--chat-template", engine.chat_template, "auto (the checkpoint's), llama3, chatml, mistral or llama2")
      ->capture_default_str();
  if (groups & kLoading) {
    app->add_option("--device", engine.device, "cpu, cuda or cuda:N")->capture_default_str();
    app->add_option("--dtype", engine.dtype, "auto, float32, bfloat16 or float16")
        ->capture_default_str();
    app->add_option("--weights", engine.weights,
                    "dtype (as --dtype), int8 (weight-only, quantized as the model loads) or "
                    "int8-zp (int8 with a zero point per row)")
        ->check(CLI::IsMember({"dtype", "int8", "int8-zp"}))
        ->capture_default_str();
  }
  if (groups & kModuleCache) add_module_cache_options(app);
  if (groups & kStates) {
    app->add_option("--max-states", engine.max_states, "saved states kept at once")
        ->check(CLI::Range(1, 4096))
        ->capture_default_str();
  }
  if (groups & kServing) add_serving_options(app);
  if (groups & kSampling) add_sampling_options(app);
  if (groups & kStop) {
    app->add_option("--stop", stop, "end the answer before this text (repeatable)")
        ->check([](const std::string& s) { return s.empty() ? "a stop string is not empty" : ""; });
  }
  if (groups & kOutput) {
    app->add_flag(
        "--timings", timings,
        "print the step timings (reset, eval, save_state, load_state, eval_prompt, sample)");
    app->add_flag("--json", json,
                  "print the answer and timings as JSON (chat: one object per turn, JSON Lines)");
  }
}

void CommonOptions::add_module_cache_options(CLI::App* app) {
  app->add_option("--cache-dir", engine.cache_dir,
                  "module cache directory (disk tier); none by default");
  app->add_option("--remote", engine.remote,
                  "remote tier shared by replicas: redis://[:PASSWORD@]HOST:PORT[/DB]; none by "
                  "default");
  app->add_option("--encoding", engine.default_encoding,
                  "encoding of schemas that do not say: scaffold or independent")
      ->check(CLI::IsMember({"scaffold", "independent"}))
      ->capture_default_str();
}

void CommonOptions::add_serving_options(CLI::App* app) {
  app->add_option("--kv-pool-bytes", engine.kv_pool_bytes,
                  "bytes of the KV block pool, e.g. 8GiB (0: half the free GPU memory; 2GiB on the CPU)")
      ->transform(CLI::AsSizeValue(false));
  app->add_option("--max-batch-tokens", engine.max_batch_tokens,
                  "new tokens in one forward at most (prefill chunks and decode steps together)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app->add_option("--max-lone-batch-tokens", engine.max_lone_batch_tokens,
                  "the same while one request runs alone (a long prompt in fewer, larger steps; "
                  "0: 16384 on a GPU in bfloat16/float16 or --max-batch-tokens if larger, "
                  "else --max-batch-tokens)")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  app->add_option("--max-running", engine.max_running, "requests running at once at most")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
}

void add_token_choice_options(CLI::App* app, float& temperature, int& top_k, float& top_p) {
  app->add_option("--temperature", temperature, "0 = greedy")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app->add_option("--top-k", top_k, "0 = off")->check(CLI::NonNegativeNumber)->capture_default_str();
  app->add_option("--top-p", top_p, "1 = off")->check(CLI::Range(0.0, 1.0))->capture_default_str();
}

void CommonOptions::add_sampling_options(CLI::App* app) {
  app->add_option("-n,--max-tokens", sampling.max_tokens, "tokens to generate at most")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  add_token_choice_options(app, sampling.temperature, sampling.top_k, sampling.top_p);
  app->add_option("-s,--seed", sampling.seed, "random seed for sampling")->capture_default_str();
  app->add_flag(
      "--ignore-eos", [this](int64_t) { sampling.stop_at_eos = false; },
      "do not stop at end-of-sequence");
}

Status CommonOptions::resolve() {
  std::string path = config_path;
  if (path.empty()) {
    PCACHE_ASSIGN_OR_RETURN(path, default_config_path());
    if (path.empty()) return Status::ok_status();
  }
  PCACHE_ASSIGN_OR_RETURN(Config c, load_config(path));
  // Keys with a flag of their own: a flag given on the command line wins.
  static constexpr std::pair<const char*, const char*> kFlags[] = {
      {"model", "--model"},
      {"device", "--device"},
      {"dtype", "--dtype"},
      {"weights", "--weights"},
      {"chat_template", "--chat-template"},
      {"encoding", "--encoding"},
      {"cache.dir", "--cache-dir"},
      {"cache.remote", "--remote"},
      {"max_states", "--max-states"},
      {"serving.kv_pool_bytes", "--kv-pool-bytes"},
      {"serving.max_batch_tokens", "--max-batch-tokens"},
      {"serving.max_lone_batch_tokens", "--max-lone-batch-tokens"},
      {"serving.max_running", "--max-running"},
      {"sampling.max_tokens", "--max-tokens"},
      {"sampling.temperature", "--temperature"},
      {"sampling.top_k", "--top-k"},
      {"sampling.top_p", "--top-p"},
      {"sampling.seed", "--seed"}};
  std::set<std::string> given;
  for (const auto& [key, flag] : kFlags) {
    if (cmd->get_option_no_throw(flag) != nullptr && cmd->count(flag) > 0) given.insert(key);
  }
  apply_config(c, given, &model_dir, &engine, &sampling);
  if (server) {
    static constexpr std::pair<const char*, const char*> kServerFlags[] = {
        {"server.host", "--host"},
        {"server.port", "--port"},
        {"server.model_name", "--model-name"},
        {"server.schemas", "--schema"},
        {"server.api_key_file", "--api-key-file"},
        {"server.shared_cache", "--shared-cache"},
        {"server.state_dir", "--state-dir"},
        {"server.max_body_bytes", "--max-body-bytes"},
        {"server.max_prompt_tokens", "--max-prompt-tokens"},
        {"server.max_tokens_limit", "--max-tokens-limit"},
        {"server.max_concurrent", "--max-concurrent"},
        {"server.max_queue", "--max-queue"},
        {"server.shutdown_grace", "--shutdown-grace"},
        {"server.log_format", "--log-format"}};
    std::set<std::string> given_server;
    for (const auto& [key, flag] : kServerFlags) {
      if (cmd->count(flag) > 0) given_server.insert(key);
    }
    apply_server_config(c, given_server, server);
  }
  return Status::ok_status();
}

StatusOr<std::string> CommonOptions::model_folder() const {
  if (!model_dir.empty()) return model_dir;
  auto dir = default_model_dir();
  if (!dir.ok()) {
    return Status::invalid_argument("pass --model DIR or set 'model' in the configuration: " +
                                    dir.status().message());
  }
  return dir;
}

std::string CommonOptions::help_footer(bool takes_model) const {
  std::string path = config_path, config_model;
  std::string out = "Configuration: ";
  if (path.empty()) {
    auto found = default_config_path();
    if (!found.ok()) return out + found.status().message() + "\n";
    path = *found;
  }
  if (path.empty()) {
    out += "none (none at $PCACHE_CONFIG or ~/.config/pcache/config.yaml)\n";
  } else {
    auto loaded = load_config(path);
    out += path + (loaded.ok() ? "" : " (" + loaded.status().to_string() + ")") + "\n";
    if (loaded.ok()) config_model = loaded->model;
  }
  if (!takes_model) return out;
  out += "Model without --model: ";
  if (!config_model.empty()) return out + config_model + " (the configuration's 'model')\n";
  auto dir = default_model_dir();
  const char* env = std::getenv("PCACHE_MODEL");
  const bool from_env = env != nullptr && *env != '\0';
  if (!dir.ok()) return out + "none: " + dir.status().message() + "\n";
  return out + std::filesystem::path(*dir).lexically_normal().string() +
         (from_env ? " ($PCACHE_MODEL)" : " (the demo model)") + "\n";
}

StatusOr<std::unique_ptr<Engine>> CommonOptions::open_engine() const {
  PCACHE_RETURN_IF_ERROR(sampling.validate());
  PCACHE_ASSIGN_OR_RETURN(const std::string dir, model_folder());
  return Engine::open(dir, engine);
}

Progress::Progress() : terminal_(isatty(STDERR_FILENO)) {}

void Progress::show(const std::string& line) {
  if (!terminal_) return;
  std::fprintf(stderr, "\r%s\033[K", line.c_str());
  std::fflush(stderr);
  shown_ = true;
}

void Progress::clear() {
  if (!shown_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  shown_ = false;
}

std::string format_duration(double seconds) {
  if (seconds < 90) return std::to_string(static_cast<int>(std::ceil(seconds))) + " s";
  return std::to_string(static_cast<int>(std::ceil(seconds / 60))) + " min";
}

std::string format_ms(double v) {
  char out[32];
  std::snprintf(out, sizeof out, "%.*f", v < 100 ? 2 : v < 1000 ? 1 : 0, v);
  return out;
}

void print_steps(const std::vector<StepTiming>& steps) {
  std::fprintf(stderr, "%-12s %12s %12s %12s\n", "step", "time_ms", "tokens", "tokens/s");
  for (const auto& s : steps) {
    if (s.tokens > 0 && s.ms > 0) {
      std::fprintf(stderr, "%-12s %12.2f %12d %12.1f\n", s.step.c_str(), s.ms, s.tokens,
                   s.tokens * 1000.0 / s.ms);
    } else {
      std::fprintf(stderr, "%-12s %12.2f %12s %12s\n", s.step.c_str(), s.ms, "n/a", "n/a");
    }
  }
}

nlohmann::json steps_json(const std::vector<StepTiming>& steps) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& s : steps) {
    j.push_back({{"step", s.step},
                 {"ms", s.ms},
                 {"tokens", s.tokens},
                 {"tokens_per_s", s.tokens > 0 && s.ms > 0 ? s.tokens * 1000.0 / s.ms : 0.0}});
  }
  return j;
}

AnswerStream::AnswerStream(const CommonOptions& o, const std::atomic<bool>* interrupt)
    : print_(!o.json), stops_(o.stop), interrupt_(interrupt) {}

TextCallback AnswerStream::callback() {
  return [this](const std::string& piece) {
    if (interrupted_ || stops_.stopped()) return false;
    if (interrupt_ && interrupt_->load()) {
      interrupted_ = true;
      return false;
    }
    const std::string shown = stops_.push(piece);
    text_ += shown;
    if (print_) {
      std::fwrite(shown.data(), 1, shown.size(), stdout);
      std::fflush(stdout);
    }
    return !stops_.stopped();
  };
}

std::string AnswerStream::finish(Generation* g) {
  const std::string rest = stops_.flush();
  text_ += rest;
  if (print_) std::fwrite(rest.data(), 1, rest.size(), stdout);
  g->text = text_;
  if (stops_.stopped()) return "stop_string";
  if (interrupted_) return "interrupted";
  return stop_reason_name(g->stop_reason);
}

std::string status_line(const Generation& g, const std::string& stop_reason) {
  const GenerationTimings& t = g.timings;
  std::string line = "prompt " + std::to_string(t.prompt_tokens) + " tokens (" +
                     std::to_string(t.cached_tokens) + " from cache";
  const bool pml = t.modules_reused + t.modules_encoded > 0;
  if (pml) {
    line += ": " + std::to_string(t.modules_reused) + " module" +
            (t.modules_reused == 1 ? "" : "s") + " reused, " + std::to_string(t.modules_encoded) +
            " encoded now";
  }
  line += ") | ";
  if (pml) line += "assembly " + format_ms(t.assembly_ms) + " ms | ";
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.1f", t.decode_tokens_per_s());
  line += "prefill " + format_ms(t.prefill_ms) + " ms (" +
          std::to_string(t.prompt_tokens - t.cached_tokens) + " tokens) | first token " +
          format_ms(t.first_token_ms) + " ms | generated " + std::to_string(t.generated_tokens) +
          (t.generated_tokens == 1 ? " token, no decode speed"
                                   : " tokens, decode " + std::string(rate) + " tok/s") +
          " | stop: " + stop_reason;
  return line;
}

nlohmann::json generation_json(const Generation& g, const std::string& stop_reason) {
  const auto& t = g.timings;
  return {{"text", g.text},
          {"tokens", g.tokens},
          {"stop_reason", stop_reason},
          {"steps", steps_json(g.steps)},
          {"timings",
           {{"prompt_tokens", t.prompt_tokens},
            {"cached_tokens", t.cached_tokens},
            {"modules_reused", t.modules_reused},
            {"modules_encoded", t.modules_encoded},
            {"assembly_ms", t.assembly_ms},
            {"queued_ms", t.queued_ms},
            {"prefill_ms", t.prefill_ms},
            {"first_token_ms", t.first_token_ms},
            {"generated_tokens", t.generated_tokens},
            {"decode_ms", t.decode_ms},
            {"decode_tokens_per_s", t.decode_tokens_per_s()}}}};
}

}  // namespace pcache::cli
