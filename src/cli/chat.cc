// pcache chat: an interactive conversation on saved states. Each turn extends
// the state before it, so a turn prefills only its own line; /undo and
// /regenerate go back to an earlier state.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/common.h"

namespace pcache::cli {
namespace {

const char* kHelp =
    "commands: /undo  /regenerate  /save FILE  /load FILE  /stats  /help  /quit";

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
        history.pop_back();
        lines.pop_back();
        s = engine.restore(history.back()).status();
        if (s.ok()) say("back to state %s\n", std::to_string(history.back()));
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
    } else if (name == "/save") {
      if (arg.empty()) {
        say("usage: /save FILE\n");
      } else {
        s = engine.save(history.back(), arg);
        if (s.ok()) say("saved to %s\n", arg);
      }
    } else if (name == "/load") {
      if (arg.empty()) {
        say("usage: /load FILE\n");
      } else {
        auto loaded = engine.load(arg);
        s = loaded.status();
        if (loaded.ok()) {
          history.push_back(*loaded);
          lines.push_back("");
          say("loaded %s\n", arg);
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

int run_chat(CommonOptions& common, const std::string& schema, const std::string& prompt, const std::string& system,
             const std::string& save_path, const std::string& load_path) {
  auto engine = common.open_engine();
  if (!engine.ok()) return report(engine.status());
  Engine& e = **engine;
  StatusOr<StateId> start = Status::internal("no start");
  std::vector<StepTiming> steps;
  if (!load_path.empty()) {
    start = e.load(load_path);
  } else if (!prompt.empty()) {
    auto added = schema.empty() ? e.find_schema(prompt) : e.add_schema_file(schema);
    if (!added.ok()) return report(added.status());
    auto text = read_text(prompt, "a PML prompt");
    if (!text.ok()) return report(text.status());
    auto cached = e.cache_pml(*text, prompt);
    if (cached.ok()) steps = cached->steps;
    start = cached.ok() ? StatusOr<StateId>(cached->state) : StatusOr<StateId>(cached.status());
  } else {
    std::vector<ChatMessage> messages;
    if (!system.empty()) messages.push_back({"system", system});
    auto cached = e.cache_chat(messages);
    if (cached.ok()) steps = cached->steps;
    start = cached.ok() ? StatusOr<StateId>(cached->state) : StatusOr<StateId>(cached.status());
  }
  if (!start.ok()) return report(start.status());
  if (common.timings && !steps.empty()) print_steps(steps);

  Chat chat{e, common, static_cast<bool>(isatty(STDIN_FILENO)), {*start}, {""}, {}};
  if (chat.interactive) std::fprintf(stderr, "%s\n%s\n", e.describe().c_str(), kHelp);
  std::string line;
  for (;;) {
    if (chat.interactive) {
      std::fprintf(stderr, "> ");
      std::fflush(stderr);
    }
    if (!std::getline(std::cin, line)) break;
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
  if (!save_path.empty()) {
    if (Status s = e.save(chat.history.back(), save_path); !s.ok()) return report(s);
    if (!common.json) std::fprintf(stderr, "saved to %s\n", save_path.c_str());
  }
  return 0;
}

}  // namespace pcache::cli
