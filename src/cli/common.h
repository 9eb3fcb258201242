// Shared pieces of the pcache commands: options every command takes, the
// configuration file merged under the command line, printing of timings.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pcache/engine.h"
#include "pcache/server_options.h"
#include "util/stop_matcher.h"

namespace pcache::cli {

// Exit codes (README, "Exit codes"; `pcache --help`).
inline constexpr int kExitFailed = 1;    // the command ran and its check failed
inline constexpr int kExitUsage = 2;     // the command line: unknown or conflicting options
inline constexpr int kExitInput = 3;     // a model, prompt, schema, configuration or value is wrong
inline constexpr int kExitInternal = 4;  // I/O, memory or a bug: the input may be fine
inline constexpr const char* kExitCodes =
    "Exit codes: 0 success, 1 a check failed (verify, eval --require-exact), 2 a usage error, "
    "3 bad input, 4 an I/O, memory or internal error.";

// Prints the error; returns its exit code (kExitInput or kExitInternal).
int report(const Status& s);
// A command line that cannot run as given.
int usage_error(const std::string& message);

// Files the commands read besides models and schemas (PML prompts, --inputs,
// eval questions): regular files only, at most this many bytes.
inline constexpr size_t kMaxTextFileBytes = 64u << 20;
// The whole file; `what` names it in errors (util/file_util.h's read_file).
StatusOr<std::string> read_text(const std::string& path, const std::string& what);
// read_text, or standard input (up to the same size) when `path` is "-".
StatusOr<std::string> read_text_or_stdin(const std::string& path, const std::string& what);
// Its non-empty lines, without their line ends.
StatusOr<std::vector<std::string>> read_lines(const std::string& path, const std::string& what);

// Options of one command: the model, engine and sampling settings, and the
// configuration file that fills whatever the command line did not give.
// --temperature, --top-k and --top-p, bound to these.
void add_token_choice_options(CLI::App* app, float& temperature, int& top_k, float& top_p);

struct CommonOptions {
  std::string config_path;
  std::string model_dir;
  EngineOptions engine;
  SamplingOptions sampling;
  bool timings = false;
  bool json = false;
  std::vector<std::string> stop;  // --stop: the answer ends before the first of these
  CLI::App* cmd = nullptr;
  // `serve`: also filled from the file's server: section by resolve().
  ServerOptions* server = nullptr;

  // The options a command offers beyond -c/--config and --chat-template:
  // every one it takes has an effect there (none is accepted and ignored).
  enum Groups : unsigned {
    kModelFlag = 1,    // -m/--model (verify takes the folder as its argument)
    kLoading = 2,      // --device, --dtype, --weights
    kModuleCache = 4,  // --cache-dir, --remote, --encoding
    kStates = 8,       // --max-states
    kServing = 16,     // --kv-pool-bytes, --max-batch-tokens, --max-running
    kSampling = 32,    // -n, --temperature, --top-k, --top-p, -s, --ignore-eos
    kOutput = 64,      // --timings, --json
    kStop = 128,       // --stop (generate, run, chat)
  };
  void add_to(CLI::App* app, unsigned groups);
  void add_module_cache_options(CLI::App* app);
  void add_serving_options(CLI::App* app);
  void add_sampling_options(CLI::App* app);
  // Loads the configuration (--config, else the default location) and sets
  // every value the command line left alone. Errors name the file, key and line.
  Status resolve();
  // Without a model: $PCACHE_MODEL, then the demo model (models/pcache-demo
  // beside the program's folder, installed, or in the source tree).
  StatusOr<std::unique_ptr<Engine>> open_engine() const;
  // The model folder open_engine() opens.
  StatusOr<std::string> model_folder() const;
  // The end of --help: the configuration file in use and the model a
  // command without --model opens (and where that choice came from).
  std::string help_footer(bool takes_model) const;
};

// An answer as it streams: printed to stdout piece by piece (not with
// --json), cut before the first --stop string (text that may begin one is
// held back until it is known), and stopped early once `interrupt` is set
// (chat's Ctrl-C). One per generation call.
class AnswerStream {
 public:
  explicit AnswerStream(const CommonOptions& o, const std::atomic<bool>* interrupt = nullptr);
  // For the engine's call; runs on its scheduler's thread.
  TextCallback callback();
  // After the call: prints what was held back, cuts g->text as it was shown,
  // and returns why the answer ended: "stop_string", "interrupted", or the
  // engine's reason ("eos", "max_tokens").
  std::string finish(Generation* g);

 private:
  bool print_;
  StopMatcher stops_;
  const std::atomic<bool>* interrupt_;
  bool interrupted_ = false;
  std::string text_;  // the answer up to any stop string
};

// One line of progress on stderr, rewritten in place, when stderr is a
// terminal; nothing otherwise (logs and pipes get the results only).
// Lines should stay within 80 columns: a wrapped line is not rewritten.
class Progress {
 public:
  Progress();
  ~Progress() { clear(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  void show(const std::string& line);
  // Before anything else is printed.
  void clear();

 private:
  bool terminal_;
  bool shown_ = false;
};
// "45 s", "12 min": how long the rest of a run may take.
std::string format_duration(double seconds);

// The step table of seed 001 (step, time, tokens, tokens/s), to stderr.
void print_steps(const std::vector<StepTiming>& steps);
// A duration (or rate) as people read it: 2 decimals below 100, 1 below
// 1000, none above ("35.25", "412.7", "11392").
std::string format_ms(double v);
nlohmann::json steps_json(const std::vector<StepTiming>& steps);
// `stop_reason` as AnswerStream::finish gives it.
nlohmann::json generation_json(const Generation& g, const std::string& stop_reason);
// What one answer did, for stderr: the prompt (from the cache: tokens, and
// for a PML prompt the modules reused and encoded), the time split
// (assembly, prefill, first token), and the decode speed (tokens after the
// first over their time, as --json's decode_tokens_per_s and --timings'
// sample row; one token has none).
std::string status_line(const Generation& g, const std::string& stop_reason);

struct BenchOptions {
  std::string module_tokens = "512,1024,2048,4096,8192,16384";
  std::string new_tokens = "32,256";
  int warmup = 2, repeats = 10;
  int decode_tokens = 128, decode_repeats = 3;
  // How the decodes (and the concurrency runs' requests) pick tokens: greedy by default.
  float temperature = 0.f, top_p = 1.f;
  int top_k = 0;
  int64_t device_cache_bytes = 32ll << 30;  // every module stays on the device
  std::string out;                          // JSON file ("" = stdout)
  std::string name;                         // model name in the JSON
  // "1,4,16,64": requests at once (bench_concurrency.h) instead of the TTFT table.
  std::string concurrency;
};
int run_bench(CommonOptions& common, const BenchOptions& options);

struct EvalOptions {
  std::string data_dir;   // from tools/restaurant_data.py: eval.jsonl, eval_<mode>.xml
  std::string questions;  // default: DATA/eval.jsonl
  int limit = 0;          // questions at most (0: all)
  std::string out;        // JSON with every answer ("" = none)
  // Methods whose every answer must match the gold one: otherwise each miss is
  // printed and the exit code is 1 (a regression test on the shipped model).
  std::vector<std::string> require_exact;
};
int run_eval(CommonOptions& common, const EvalOptions& options);

// `pcache tokenize` (tokenize.cc): a model's tokenizer only, no weights.
struct TokenizeOptions {
  std::string text;           // the text argument
  std::string file;           // --file: the whole file as one text
  std::string messages;       // --messages: an OpenAI-style messages list (JSON)
  bool pieces = false;        // --pieces: {"ids": [...], "pieces": [...]}
  bool special = false;       // --special: special tokens parsed and added
};
int run_tokenize(CommonOptions& common, const TokenizeOptions& options);

// `pcache quantize` (quantize.cc): int8, or int8-zp with `zero_point`; `out_dir`
// empty means `model_dir` + "-int8" (or "-int8-zp").
int run_quantize(const std::string& model_dir, std::string out_dir, bool zero_point);

// `pcache serve` until SIGTERM or SIGINT; keys from --api-key, the file
// (one a line) and $PCACHE_API_KEY.
int run_serve(CommonOptions& common, ServerOptions options);

// `pcache chat`: how the conversation starts (a PML prompt, a system
// prompt, a snapshot file or a state in the remote tier) and where it is
// saved at the end.
struct ChatOptions {
  std::string schema, prompt, system;
  std::string load_path, save_path;      // snapshot files
  std::string load_remote, save_remote;  // names in the remote tier (--remote)
};
int run_chat(CommonOptions& common, const ChatOptions& options);

}  // namespace pcache::cli
