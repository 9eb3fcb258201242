// pcache chat: an interactive conversation on saved states. Each turn extends
// the state before it, so a turn prefills only its own line; /undo and
// /regenerate go back to an earlier state. A state is kept in a snapshot file
// (/save, /load, --save, --load) or, with --remote, in the remote tier under a
// name that every engine on the same Redis finds (/save-remote, /load-remote,
// --save-remote, --load-remote).
//
// On a terminal (llama-cli's keys): lines are edited with history
// (LineReader); Ctrl-C stops the answer being generated and keeps the
// conversation; Ctrl-C at an empty prompt, or Ctrl-D, ends the chat, which
// saves to --save / --save-remote as /quit does.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/common.h"
#include "cli/line_reader.h"

namespace pcache::cli {
namespace {

// Set by SIGINT while an answer is generated (at the prompt Ctrl-C is a key,
// LineReader's); the answer's text callback sees it and stops.
std::atomic<bool> stop_answer{false};
static_assert(std::atomic<bool>::is_always_lock_free, "set from a signal handler");
extern "C" void on_interrupt(int) { stop_answer.store(true); }

// A state to or from a snapshot file, or the remote tier under a name.
Status save_state(Engine& engine, StateId state, const std::string& where, bool remote) {
  return remote ? engine.save_remote(state, where) : engine.save(state, where);
}
StatusOr<StateId> load_state(Engine& engine, const std::string& where, bool remote) {
  return remote ? engine.load_remote(where) : engine.load(where);
}

const char* kHelp =
    "commands: /undo  /regenerate  /save FILE  /load FILE  /save-remote NAME  /load-remote NAME  "
    "/stats  "
    "/help  /quit";
// /regenerate's temperature when the chat's is 0 (llama-cli's default).
constexpr float kRegenerateTemperature = 0.8f;

const char* kKeys =
    "keys: Ctrl-C stops an answer; Ctrl-C at an empty prompt or Ctrl-D quits; a line ending in \\ "
    "goes on on the next";

struct Chat {
  Engine& engine;
  CommonOptions& options;
  bool interactive;
  std::vector<StateId> history;   // history.back() is the conversation now
  std::vector<std::string> lines;  // the user line that made each state ("" for the first)
  std::vector<StepTiming> last_steps;
  uint64_t regenerations = 0;

  void say(const char* fmt, const std::string& arg = "") {
    if (!options.json) std::fprintf(stderr, fmt, arg.c_str());
  }

  // The answer to `line`; an interrupted one is kept as far as it went.
  Status turn(const std::string& line, SamplingOptions sampling) {
    stop_answer.store(false);
    AnswerStream stream(options, &stop_answer);
    PCACHE_ASSIGN_OR_RETURN(
        ChatResult r, engine.chat_completion(history.back(), line, sampling, stream.callback()));
    const std::string stop_reason = stream.finish(&r.generation);
    history.push_back(r.state);
    lines.push_back(line);
    last_steps = r.generation.steps;
    if (options.json) {
      nlohmann::json j = generation_json(r.generation, stop_reason);
      j["state"] = r.state;
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("\n");
    }
    std::fflush(stdout);
    if (stop_reason == "interrupted") {
      say("(stopped; the answer so far is kept: /undo takes it back; Ctrl-C at an empty prompt "
          "or Ctrl-D ends the chat)\n");
    }
    if (options.timings) print_steps(r.generation.steps);
    return Status::ok_status();
  }

  void stats() {
    const CacheStats c = engine.cache_stats();
    std::fprintf(stderr, "states (most recent first):\n");
    for (const StateInfo& s : engine.states()) {
      std::fprintf(stderr, "  state %llu: %d tokens, %lld bytes own, %lld bytes with history%s\n",
                   static_cast<unsigned long long>(s.id), s.tokens, static_cast<long long>(s.own_bytes),
                   static_cast<long long>(s.total_bytes), s.id == history.back() ? "  <- now" : "");
    }
    std::fprintf(stderr, "module store: %lld hits, %lld misses, %lld bytes on device\n", static_cast<long long>(c.hits),
                 static_cast<long long>(c.misses), static_cast<long long>(c.device_bytes));
    if (!last_steps.empty()) print_steps(last_steps);
  }

  // Returns false on /quit.
  bool command(const std::string& line) {
    std::istringstream in(line);
    std::string name, arg;
    in >> name;
    std::getline(in >> std::ws, arg);
    Status s;
    if (name == "/quit" || name == "/exit") return false;
    if (name == "/help") {
      say("%s\n", kHelp);
      if (interactive) say("%s\n", kKeys);
    } else if (name == "/undo") {
      if (history.size() < 2) {
        say("nothing to undo\n");
      } else {
        const std::string undone = lines.back();
        history.pop_back();
        lines.pop_back();
        s = engine.restore(history.back()).status();
        if (s.ok()) say("took back \"%s\" and its answer\n", undone);
      }
    } else if (name == "/regenerate") {
      if (history.size() < 2 || lines.back().empty()) {
        say("nothing to regenerate\n");
      } else {
        const std::string line = lines.back();
        history.pop_back();
        lines.pop_back();
        SamplingOptions o = options.sampling;
        o.seed += ++regenerations;  // another seed, so that sampling gives another answer
        if (o.temperature == 0) {   // greedy decoding would give the same answer again
          o.temperature = kRegenerateTemperature;
          say("(greedy decoding repeats itself: this answer is sampled at temperature 0.8)\n");
        }
        s = engine.restore(history.back()).status();
        if (s.ok()) s = turn(line, o);
      }
    } else if (name == "/save" || name == "/save-remote") {
      const bool remote = name == "/save-remote";
      if (arg.empty()) {
        say(remote ? "usage: /save-remote NAME\n" : "usage: /save FILE\n");
      } else {
        s = save_state(engine, history.back(), arg, remote);
        if (s.ok()) say(remote ? "saved to the remote tier as %s\n" : "saved to %s\n", arg);
      }
    } else if (name == "/load" || name == "/load-remote") {
      const bool remote = name == "/load-remote";
      if (arg.empty()) {
        say(remote ? "usage: /load-remote NAME\n" : "usage: /load FILE\n");
      } else {
        auto loaded = load_state(engine, arg, remote);
        s = loaded.status();
        if (loaded.ok()) {
          history.push_back(*loaded);
          lines.push_back("");
          say(remote ? "loaded %s from the remote tier\n" : "loaded %s\n", arg);
        }
      }
    } else if (name == "/stats") {
      stats();
    } else {
      say("unknown command %s; ", name);
      say("%s\n", kHelp);
    }
    if (!s.ok()) report(s);  // the conversation goes on
    return true;
  }
};

}  // namespace

int run_chat(CommonOptions& common, const ChatOptions& options) {
  const std::string& prompt = options.prompt;
  const bool load_remote = !options.load_remote.empty();
  auto engine = common.open_engine();
  if (!engine.ok()) return report(engine.status());
  Engine& e = **engine;
  StatusOr<StateId> start = Status::internal("no start");
  std::vector<StepTiming> steps;
  if (!options.load_path.empty() || load_remote) {
    start = load_state(e, load_remote ? options.load_remote : options.load_path, load_remote);
  } else if (!prompt.empty()) {
    auto added = options.schema.empty() ? e.find_schema(prompt) : e.add_schema_file(options.schema);
    if (!added.ok()) return report(added.status());
    auto text = read_text(prompt, "a PML prompt");
    if (!text.ok()) return report(text.status());
    auto cached = e.cache_pml(*text, prompt);
    if (cached.ok()) steps = cached->steps;
    start = cached.ok() ? StatusOr<StateId>(cached->state) : StatusOr<StateId>(cached.status());
  } else {
    std::vector<ChatMessage> messages;
    if (!options.system.empty()) messages.push_back({"system", options.system});
    auto cached = e.cache_chat(messages);
    if (cached.ok()) steps = cached->steps;
    start = cached.ok() ? StatusOr<StateId>(cached->state) : StatusOr<StateId>(cached.status());
  }
  if (!start.ok()) return report(start.status());
  if (common.timings && !steps.empty()) print_steps(steps);
  if (!common.json && (!options.load_path.empty() || load_remote)) {
    for (const StateInfo& info : e.states()) {
      if (info.id != *start) continue;
      std::fprintf(stderr, "loaded %s: a conversation of %d tokens\n",
                   (load_remote ? options.load_remote : options.load_path).c_str(), info.tokens);
    }
  }

  LineReader reader;
  Chat chat{e, common, reader.editing(), {*start}, {""}, {}};
  if (chat.interactive) {
    std::fprintf(stderr, "%s\n%s\n%s\n", e.describe().c_str(), kHelp, kKeys);
    struct sigaction action = {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, nullptr);
  }
  std::string line;
  while (reader.read(&line) == LineReader::Result::kLine) {
    if (line.empty()) continue;
    if (line[0] == '/') {
      if (!chat.command(line)) break;
      continue;
    }
    if (Status s = chat.turn(line, common.sampling); !s.ok()) {
      const int code = report(s);
      if (!chat.interactive) return code;  // a script should stop at the first failure
    }
  }
  if (!options.save_path.empty()) {
    if (Status s = e.save(chat.history.back(), options.save_path); !s.ok()) return report(s);
    chat.say("saved to %s\n", options.save_path);
  }
  if (!options.save_remote.empty()) {
    if (Status s = e.save_remote(chat.history.back(), options.save_remote); !s.ok())
      return report(s);
    chat.say("saved to the remote tier as %s\n", options.save_remote);
  }
  return 0;
}

}  // namespace pcache::cli
