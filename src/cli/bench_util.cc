#include "cli/bench_util.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

namespace pcache::cli {
namespace {


// Common English words; those the tokenizer keeps as one piece make the text,
// so that a text of n words is n tokens of real, varied pieces.
constexpr const char* kWords[] = {
    "the",     "menu",  "table",   "dinner",    "lunch",  "kitchen", "chef",  "fresh",   "bread",
    "cheese",  "wine",  "water",   "garden",    "market", "price",   "open",  "closed",  "morning",
    "evening", "night", "city",    "river",     "bridge", "street",  "house", "window",  "door",
    "light",   "green", "red",     "blue",      "white",  "black",   "small", "large",   "good",
    "new",     "old",   "long",    "short",     "fish",   "meat",    "rice",  "soup",    "salad",
    "fruit",   "apple", "lemon",   "orange",    "sugar",  "salt",    "oil",   "milk",    "coffee",
    "tea",     "cake",  "sweet",   "hot",       "cold",   "warm",    "day",   "week",    "month",
    "year",    "time",  "hour",    "place",     "room",   "book",    "music", "people",  "family",
    "friend",  "child", "woman",   "man",       "name",   "story",   "world", "country", "road",
    "car",     "train", "station", "ticket",    "walk",   "visit",   "stay",  "watch",   "read",
    "write",   "speak", "listen",  "learn",     "work",   "play",    "cook",  "eat",     "drink",
    "sleep",   "and",   "with",    "from",      "near",   "under",   "over",  "after",   "before",
    "during",  "every", "many",    "some",      "other",  "first",   "last",  "next",    "best",
    "early",   "late",  "quiet",   "service",   "guest",  "order",   "plate", "glass",   "cup",
    "spoon",   "knife", "fork",    "bowl",      "pepper", "garlic",  "onion", "tomato",  "potato",
    "butter",  "cream", "honey",   "chocolate", "pizza",
};

}  // namespace

std::string words_text(const Tokenizer& tok, int64_t n, uint64_t seed) {
  std::vector<std::string> one_piece;
  for (const char* w : kWords) {
    if (tok.encode(w).size() == 1) one_piece.push_back(w);
  }
  std::string text;
  uint64_t x = seed * 2654435761u + 1;
  for (int64_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;  // an LCG: varied, repeatable
    if (i) text += ' ';
    text += one_piece[(x >> 33) % one_piece.size()];
  }
  return text;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double r = q * static_cast<double>(v.size() - 1);  // linear interpolation between ranks
  const size_t lo = static_cast<size_t>(r), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (r - static_cast<double>(lo));
}

Summary summarize(const std::vector<double>& v) { return {percentile(v, 0.5), percentile(v, 0.9)}; }

nlohmann::json to_json(const Summary& s) { return {{"median", s.median}, {"p90", s.p90}}; }

std::vector<int64_t> parse_lengths(const std::string& list, const char* what, Status* error) {
  std::vector<int64_t> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (end && (*end == 'k' || *end == 'K')) {
      v *= 1024;
      ++end;
    }
    if (item.empty() || !end || *end != '\0' || v < 1 || v > (1 << 20)) {
      *error = Status::invalid_argument(std::string(what) + ": \"" + item +
                                        "\" is not a length in tokens (1 .. 1M; 4k = 4096)");
      return {};
    }
    out.push_back(v);
  }
  if (out.empty()) *error = Status::invalid_argument(std::string(what) + ": no lengths given");
  return out;
}

std::string iso_date() {
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return buf;
}

std::string hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

}  // namespace pcache::cli
