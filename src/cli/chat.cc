// pcache chat: an interactive conversation on saved states. Each turn extends
// the state before it, so a turn prefills only its own line; /undo and
// /regenerate go back to an earlier state. A state is kept in a snapshot file
// (/save, /load, --save, --load) or, with --remote, in the remote tier under a
// name that every engine on the same Redis finds (/save-remote, /load-remote,
// --save-remote, --load-remote).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/common.h"

namespace pcache::cli {
namespace {

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

  Status turn(const std::string& line, SamplingOptions sampling) {
    auto print = [&](const std::string& piece) {
      if (!options.json) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
      }
      return true;
    };
    PCACHE_ASSIGN_OR_RETURN(ChatResult r, engine.chat_completion(history.back(), line, sampling, print));
    history.push_back(r.state);
    lines.push_back(line);
    last_steps = r.generation.steps;
    if (options.json) {
      nlohmann::json j = generation_json(r.generation);
      j["state"] = r.state;
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("\n");
    }
    std::fflush(stdout);
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

  Chat chat{e, common, static_cast<bool>(isatty(STDIN_FILENO)), {*start}, {""}, {}};
  if (chat.interactive) std::fprintf(stderr, "%s\n%s\n", e.describe().c_str(), kHelp);
  std::string line;
  for (;;) {
    if (chat.interactive) {
      std::fprintf(stderr, "> ");
      std::fflush(stderr);
    }
    if (!std::getline(std::cin, line)) {
      if (chat.interactive) std::fprintf(stderr, "\n");  // Ctrl-D: the shell's prompt on a line of its own
      break;
    }
    if (line.empty()) continue;
    if (line[0] == '/') {
      if (!chat.command(line)) break;
      continue;
    }
    if (Status s = chat.turn(line, common.sampling); !s.ok()) {
      report(s);
      if (!chat.interactive) return kExitError;  // a script should stop at the first failure
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
