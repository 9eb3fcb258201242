// `pcache eval`: answer quality of the module cache against full prefill
// (issue 7, docs/accuracy.md). Each held-out question of tools/restaurant_data.py
// is answered greedily four ways:
//   full         - the system notes + question as one chat prompt, prefilled whole;
//   prefix       - the same prompt through the prefix cache (the notes' states
//                  reused from an earlier question on the same restaurant);
//   scaffold     - a PML prompt importing the restaurant's modules, encoded in
//   independent    scaffold or independent mode (eval_<mode>.xml);
//   pml_nocache  - that PML prompt's tokens at their positions in one plain
//                  prefill: what the module cache approximates.
// Reports exact match against the gold answer, and how often the whole
// answer and its first token agree with full prefill's and with
// pml_nocache's (the columns of docs/accuracy.md). Uses only the public API.
#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>

#include "cli/common.h"

namespace pcache::cli {
namespace {

std::string trim(const std::string& s) {
  const char* space = " \t\r\n";
  size_t b = s.find_first_not_of(space);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(space) - b + 1);
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

struct Tally {
  int total = 0, exact = 0, same_answer = 0, first_token_agrees = 0;
  int same_answer_as_pml = 0, first_token_agrees_with_pml = 0;
  int64_t cached_tokens = 0;
};

}  // namespace

int run_eval(CommonOptions& common, const EvalOptions& e) {
  const char* methods[] = {"full", "prefix", "scaffold", "independent", "pml_nocache"};
  auto lines = read_lines(e.questions, "the questions file");
  if (!lines.ok()) return report(lines.status());
  // Two engines: one never reuses a prefix (the baseline), one does.
  common.engine.prefix_cache = false;
  auto full_engine = common.open_engine();
  if (!full_engine.ok()) return report(full_engine.status());
  common.engine.prefix_cache = true;
  auto cached_engine = common.open_engine();
  if (!cached_engine.ok()) return report(cached_engine.status());
  Engine& full = **full_engine;
  Engine& cached = **cached_engine;
  for (const char* mode : {"scaffold", "independent"}) {
    const std::string path = e.data_dir + "/eval_" + mode + ".xml";
    if (auto added = cached.add_schema_file(path); !added.ok()) return report(added.status());
  }
  SamplingOptions greedy = common.sampling;
  greedy.temperature = 0;
  RunOptions run;
  run.sampling = greedy;

  std::map<std::string, Tally> tally;
  std::map<std::string, std::map<std::string, Tally>> by_kind;
  nlohmann::json answers = nlohmann::json::array();
  std::vector<std::string> misses;  // of the methods in e.require_exact
  const int questions = e.limit > 0 ? std::min<int>(e.limit, static_cast<int>(lines->size()))
                                    : static_cast<int>(lines->size());
  Progress progress;
  auto pct = [](int a, int n) { return n ? 100.0 * a / n : 0.0; };
  int line_no = 0;
  for (const std::string& line : *lines) {
    if (e.limit > 0 && line_no >= e.limit) break;
    std::string shown =
        "eval: question " + std::to_string(line_no + 1) + " of " + std::to_string(questions);
    if (line_no > 0) {
      char score[64];
      std::snprintf(score, sizeof score, ", exact so far: full %.1f%%, scaffold %.1f%%",
                    pct(tally["full"].exact, line_no), pct(tally["scaffold"].exact, line_no));
      shown += score;
    }
    progress.show(shown);
    ++line_no;
    nlohmann::json q;
    try {
      q = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& ex) {
      return report(Status::invalid_argument(e.questions + ":" + std::to_string(line_no) +
                                             ": not a JSON object: " + ex.what()));
    }
    for (const char* key : {"restaurant", "system", "user", "answer", "kind"}) {
      if (!q.contains(key) || !q[key].is_string()) {
        return report(Status::invalid_argument(e.questions + ":" + std::to_string(line_no) +
                                               ": no string \"" + key + "\""));
      }
    }
    const std::string gold = trim(q["answer"].get<std::string>());
    const std::vector<ChatMessage> chat = {{"system", q["system"].get<std::string>()},
                                           {"user", q["user"].get<std::string>()}};
    std::map<std::string, StatusOr<Generation>> got;
    got.emplace("full", full.generate_chat(chat, greedy));
    got.emplace("prefix", cached.generate_chat(chat, greedy));
    const std::string r = q["restaurant"].get<std::string>();
    for (const char* mode : {"scaffold", "independent"}) {
      const std::string prompt = "<prompt schema=\"heldout_" + std::string(mode) + "\"><" + r +
                                 "><hours/><menu/></" + r + "><user>" +
                                 xml_escape(q["user"].get<std::string>()) + "</user></prompt>";
      got.emplace(mode, cached.run(prompt, run));
      if (mode == std::string("scaffold")) {
        RunOptions plain = run;
        plain.use_cache = false;
        got.emplace("pml_nocache", cached.run(prompt, plain));
      }
    }
    nlohmann::json row = {{"line", line_no}, {"kind", q["kind"]}, {"gold", gold}};
    for (const char* m : methods) {
      if (!got.at(m).ok()) return report(got.at(m).status());
    }
    const Generation& base = *got.at("full");
    const Generation& pml_base = *got.at("pml_nocache");
    for (const char* m : methods) {
      const Generation& g = *got.at(m);
      const std::string answer = trim(g.text);
      const bool exact = answer == gold;
      auto same_first = [&](const Generation& other) {
        return !g.tokens.empty() && !other.tokens.empty() && g.tokens[0] == other.tokens[0];
      };
      for (Tally* t : {&tally[m], &by_kind[q["kind"].get<std::string>()][m]}) {
        ++t->total;
        t->exact += exact;
        t->same_answer += g.text == base.text;
        t->first_token_agrees += same_first(base);
        t->same_answer_as_pml += g.text == pml_base.text;
        t->first_token_agrees_with_pml += same_first(pml_base);
        t->cached_tokens += g.timings.cached_tokens;
      }
      row[m] = answer;
      if (!exact &&
          std::find(e.require_exact.begin(), e.require_exact.end(), m) != e.require_exact.end()) {
        misses.push_back(e.questions + ":" + std::to_string(line_no) + ": " + m + " answered \"" +
                         answer + "\", expected \"" + gold + "\"");
      }
    }
    answers.push_back(row);
  }
  progress.clear();
  if (line_no == 0) return report(Status::invalid_argument(e.questions + ": no questions"));

  std::cout << "pcache eval: " << full.describe() << ", " << line_no << " questions from "
            << e.questions << "\n";
  std::cout << std::left << std::setw(13) << "method" << std::right << std::setw(12)
            << "exact match" << std::setw(15) << "answer = full" << std::setw(20)
            << "first token = full" << std::setw(22) << "answer = pml_nocache" << std::setw(27)
            << "first token = pml_nocache" << std::setw(16) << "cached tokens"
            << "\n";
  nlohmann::json summary;
  for (const char* m : methods) {
    const Tally& t = tally[m];
    std::cout << std::left << std::setw(13) << m << std::right << std::fixed << std::setprecision(1)
              << std::setw(11) << pct(t.exact, t.total) << "%" << std::setw(14)
              << pct(t.same_answer, t.total) << "%" << std::setw(19)
              << pct(t.first_token_agrees, t.total) << "%" << std::setw(21)
              << pct(t.same_answer_as_pml, t.total) << "%" << std::setw(26)
              << pct(t.first_token_agrees_with_pml, t.total) << "%" << std::setw(16)
              << (t.total ? t.cached_tokens / t.total : 0) << "\n";
    summary[m] = {
        {"questions", t.total},
        {"exact_match", pct(t.exact, t.total)},
        {"same_answer_as_full", pct(t.same_answer, t.total)},
        {"first_token_agreement", pct(t.first_token_agrees, t.total)},
        {"same_answer_as_pml_nocache", pct(t.same_answer_as_pml, t.total)},
        {"first_token_agreement_with_pml_nocache", pct(t.first_token_agrees_with_pml, t.total)},
        {"mean_cached_tokens", t.total ? static_cast<double>(t.cached_tokens) / t.total : 0.0}};
  }
  nlohmann::json kinds;
  for (const auto& [kind, per] : by_kind) {
    for (const auto& [m, t] : per) kinds[kind][m] = pct(t.exact, t.total);
  }
  if (!e.out.empty()) {
    std::ofstream f(e.out);
    f << nlohmann::json{{"model", full.describe()},
                        {"questions", e.questions},
                        {"summary", summary},
                        {"exact_match_by_kind", kinds},
                        {"answers", answers}}
             .dump(2)
      << "\n";
    if (!f) return report(Status::io_error(e.out + ": cannot write the results"));
  }
  for (const std::string& miss : misses) std::cerr << miss << "\n";
  return misses.empty() ? 0 : kExitFailed;
}

}  // namespace pcache::cli
