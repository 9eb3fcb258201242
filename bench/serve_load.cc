// serve_load: a load generator for `pcache serve` (docs/server.md,
// "Benchmark"). Streams chat and PML requests at a fixed concurrency or at
// a Poisson rate and reports, per level, time to first token (TTFT), time
// per output token (TPOT) and inter-token latency (ITL) at p50/p90/p99,
// request and token throughput, errors, and the engine's own TTFT (from the
// response) beside the client's, whose difference is the HTTP overhead.
//
// Prompts share work as a chatbot's do: chat requests share a long system
// prompt (the prefix cache), PML requests import one module of a schema the
// tool registers (the module cache); each has a question of its own.
//
//   serve_load --url http://127.0.0.1:8080 --concurrency 1,8,32 --requests 64 --out serve.json
//   serve_load --rate 2,4 --duration 30
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct Options {
  std::string url = "http://127.0.0.1:8080";
  std::string api_key;
  std::string concurrency = "1,8,32";
  std::string rate;  // requests per second, comma-separated: Poisson arrivals instead
  int requests = 64;     // per concurrency level
  double duration_s = 30;  // per rate level
  int prefix_words = 400;  // shared system prompt
  int module_words = 1000;  // shared module of the PML requests
  int question_words = 24;
  int max_tokens = 64;
  double pml_share = 0.5;
  int warmup = 2;
  std::string out;
};

std::string words(int n, uint64_t seed) {
  static const char* kWords[] = {"table", "menu",  "bread", "wine",  "garden", "window", "river",
                                 "salad", "soup",  "lemon", "honey", "oven",   "market", "street",
                                 "night", "music", "chair", "plate", "spoon",  "candle"};
  std::mt19937_64 rng(seed);
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += kWords[rng() % (sizeof kWords / sizeof *kWords)];
  }
  return s;
}

struct Sample {
  bool ok = false;
  std::string error;
  double ttft_ms = 0, engine_ttft_ms = -1, engine_first_text_ms = -1, total_ms = 0;
  std::vector<double> itl_ms;
  int tokens = 0;
};

class Load {
 public:
  explicit Load(const Options& o) : o_(o), system_(words(o.prefix_words, 1)) {}

  bool register_schema() {
    httplib::Client c(o_.url);
    const std::string schema = "<schema name=\"bench_serve\"><module name=\"doc\">" +
                               words(o_.module_words, 2) + "</module></schema>";
    auto r = c.Post("/v1/schemas", headers(), schema, "application/xml");
    if (!r || r->status != 200) {
      std::fprintf(stderr, "serve_load: POST /v1/schemas: %s\n",
                   r ? r->body.c_str() : httplib::to_string(r.error()).c_str());
      return false;
    }
    return true;
  }

  // One streamed request, the i-th of the run.
  Sample request(httplib::Client& c, uint64_t i) {
    std::mt19937_64 rng(i);
    const bool pml = std::uniform_real_distribution<double>(0, 1)(rng) < o_.pml_share;
    const std::string question = words(o_.question_words, 1000 + i);
    json body = {{"max_tokens", o_.max_tokens}, {"temperature", 0},        {"ignore_eos", true},
                 {"stream", true},              {"stream_options", {{"include_usage", true}}}};
    if (pml) {
      body["pml"] = "<prompt schema=\"bench_serve\"><doc/><user>" + question + "</user></prompt>";
    } else {
      body["messages"] = {{{"role", "system"}, {"content", system_}}, {{"role", "user"}, {"content", question}}};
    }
    Sample s;
    std::string buffer;
    Clock::time_point start = Clock::now(), last;
    bool first = true;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.headers = headers();
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      buffer.append(data, n);
      for (size_t end; (end = buffer.find("\n\n")) != std::string::npos; buffer.erase(0, end + 2)) {
        const std::string event = buffer.substr(0, end);
        if (event.rfind("data: ", 0) != 0 || event == "data: [DONE]") continue;
        json j = json::parse(event.substr(6), nullptr, false);
        if (j.is_discarded()) continue;
        if (j.contains("error")) s.error = j["error"].value("message", "error event");
        if (j.contains("usage") && j["usage"].is_object()) s.tokens = j["usage"].value("completion_tokens", 0);
        if (j.contains("pcache")) {
          s.engine_ttft_ms = j["pcache"].value("ttft_ms", -1.0);
          s.engine_first_text_ms = j["pcache"].value("first_text_ms", -1.0);
        }
        if (!j.contains("choices") || j["choices"].empty()) continue;
        const json& delta = j["choices"][0]["delta"];
        if (!delta.is_object() || delta.value("content", "").empty()) continue;
        const auto now = Clock::now();
        if (first) {
          s.ttft_ms = ms_between(start, now);
          first = false;
        } else {
          s.itl_ms.push_back(ms_between(last, now));
        }
        last = now;
      }
      return true;
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    const bool sent = c.send(req, res, err);
    s.total_ms = ms_between(start, Clock::now());
    if (!sent) {
      s.error = "transport: " + httplib::to_string(err);
    } else if (res.status != 200) {
      s.error = "HTTP " + std::to_string(res.status);
    }
    s.ok = s.error.empty() && !first;
    return s;
  }

  // `n` clients, each sending requests back to back until `total` are done.
  std::vector<Sample> at_concurrency(int n, int total, double* wall_s) {
    std::vector<Sample> samples(static_cast<size_t>(total));
    std::atomic<int> next{0};
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < n; ++t) {
      threads.emplace_back([&] {
        httplib::Client c(o_.url);
        c.set_read_timeout(600);
        c.set_tcp_nodelay(true);
        for (int i; (i = next++) < total;) samples[static_cast<size_t>(i)] = request(c, serial_++);
      });
    }
    for (auto& t : threads) t.join();
    *wall_s = ms_between(start, Clock::now()) / 1000;
    return samples;
  }

  // Poisson arrivals at `rate` per second for `duration` seconds; each
  // request on a thread of its own, so that a slow server meets a queue.
  std::vector<Sample> at_rate(double rate, double duration, double* wall_s) {
    std::mt19937_64 rng(7);
    std::exponential_distribution<double> gap(rate);
    std::vector<Sample> samples;
    std::mutex mu;
    std::vector<std::thread> threads;
    const auto start = Clock::now();
    for (double t = gap(rng); t < duration; t += gap(rng)) {
      std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(t)));
      threads.emplace_back([&, i = serial_++] {
        httplib::Client c(o_.url);
        c.set_read_timeout(600);
        c.set_tcp_nodelay(true);
        Sample s = request(c, i);
        std::lock_guard<std::mutex> lock(mu);
        samples.push_back(std::move(s));
      });
    }
    for (auto& t : threads) t.join();
    *wall_s = ms_between(start, Clock::now()) / 1000;
    return samples;
  }

 private:
  httplib::Headers headers() const {
    httplib::Headers h;
    if (!o_.api_key.empty()) h.emplace("Authorization", "Bearer " + o_.api_key);
    return h;
  }

  const Options o_;
  const std::string system_;
  std::atomic<uint64_t> serial_{0};
};

json percentiles(std::vector<double> v) {
  if (v.empty()) return nullptr;
  std::sort(v.begin(), v.end());
  auto at = [&](double p) { return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))]; };
  double sum = 0;
  for (double x : v) sum += x;
  return {{"p50", at(0.5)}, {"p90", at(0.9)}, {"p99", at(0.99)}, {"mean", sum / v.size()}};
}

json summarize(const std::vector<Sample>& samples, double wall_s) {
  std::vector<double> ttft, engine_ttft, overhead, tpot, itl;
  int ok = 0, tokens = 0;
  json errors = json::object();
  for (const auto& s : samples) {
    if (!s.ok) {
      errors[s.error] = errors.value(s.error, 0) + 1;
      continue;
    }
    ++ok;
    tokens += s.tokens;
    ttft.push_back(s.ttft_ms);
    if (s.engine_ttft_ms >= 0) {
      engine_ttft.push_back(s.engine_ttft_ms);
    }
    if (s.engine_first_text_ms >= 0) {
      // The first text against the engine's first text (not its first
      // token, which may decode to no text until the next one comes): what
      // HTTP, JSON, tokenizing and threads add.
      overhead.push_back(s.ttft_ms - s.engine_first_text_ms);
    }
    if (s.tokens > 1) tpot.push_back((s.total_ms - s.ttft_ms) / (s.tokens - 1));
    itl.insert(itl.end(), s.itl_ms.begin(), s.itl_ms.end());
  }
  return {{"requests", samples.size()},
          {"completed", ok},
          {"errors", errors},
          {"wall_s", wall_s},
          {"request_throughput", ok / wall_s},
          {"output_token_throughput", tokens / wall_s},
          {"ttft_ms", percentiles(ttft)},
          {"engine_ttft_ms", percentiles(engine_ttft)},
          {"http_overhead_ms", percentiles(overhead)},
          {"tpot_ms", percentiles(tpot)},
          {"itl_ms", percentiles(itl)}};
}

std::vector<double> numbers(const std::string& list) {
  std::vector<double> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stod(item));
  return out;
}

void print(const std::string& level, const json& r) {
  auto p = [&](const char* key, const char* q) {
    return r[key].is_null() ? 0.0 : r[key][q].get<double>();
  };
  std::printf("%-16s %5d/%-5d %8.2f %9.1f %9.1f %9.1f %9.1f %9.2f %9.2f %9.2f %9.2f %9.2f\n",
              level.c_str(), r["completed"].get<int>(), r["requests"].get<int>(),
              r["request_throughput"].get<double>(), r["output_token_throughput"].get<double>(),
              p("ttft_ms", "p50"), p("ttft_ms", "p99"), p("engine_ttft_ms", "p50"),
              p("http_overhead_ms", "p50"), p("tpot_ms", "p50"), p("tpot_ms", "p99"), p("itl_ms", "p50"),
              p("itl_ms", "p99"));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"serve_load: load generator for pcache serve (streamed chat and PML requests)"};
  app.add_option("--url", o.url, "server")->capture_default_str();
  app.add_option("--api-key", o.api_key, "API key");
  app.add_option("--concurrency", o.concurrency, "clients at once, comma-separated")->capture_default_str();
  app.add_option("--rate", o.rate, "Poisson request rates per second, comma-separated (instead of --concurrency)");
  app.add_option("--requests", o.requests, "requests per concurrency level")->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("--duration", o.duration_s, "seconds per rate level")->check(CLI::Range(1.0, 86400.0))->capture_default_str();
  app.add_option("--prefix-words", o.prefix_words, "words of the shared system prompt")->check(CLI::Range(0, 100000))->capture_default_str();
  app.add_option("--module-words", o.module_words, "words of the shared module")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--question-words", o.question_words, "words of each request's own question")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--max-tokens", o.max_tokens, "tokens generated per request")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--pml-share", o.pml_share, "share of PML requests (the rest: chat)")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--warmup", o.warmup, "untimed requests first")->check(CLI::Range(0, 1000))->capture_default_str();
  app.add_option("--out", o.out, "JSON results file");
  CLI11_PARSE(app, argc, argv);

  Load load(o);
  if (o.pml_share > 0 && !load.register_schema()) return 2;
  if (o.warmup > 0) {
    double wall = 0;
    for (const auto& s : load.at_concurrency(1, o.warmup, &wall)) {
      if (!s.ok) {
        std::fprintf(stderr, "serve_load: warm-up request failed: %s\n", s.error.c_str());
        return 2;
      }
    }
  }
  json results = json::array();
  std::printf("%-16s %11s %8s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n", "level", "ok/sent", "req/s",
              "tok/s", "ttft_p50", "ttft_p99", "eng_ttft", "http_ms", "tpot_p50", "tpot_p99", "itl_p50",
              "itl_p99");
  const bool by_rate = !o.rate.empty();
  for (double level : numbers(by_rate ? o.rate : o.concurrency)) {
    double wall = 0;
    auto samples = by_rate ? load.at_rate(level, o.duration_s, &wall)
                           : load.at_concurrency(static_cast<int>(level), o.requests, &wall);
    json r = summarize(samples, wall);
    r[by_rate ? "rate" : "concurrency"] = level;
    const std::string name = (by_rate ? "rate " : "concurrency ") + json(level).dump();
    print(name, r);
    results.push_back(r);
  }
  json out = {{"tool", "serve_load"},
              {"url", o.url},
              {"max_tokens", o.max_tokens},
              {"prefix_words", o.prefix_words},
              {"module_words", o.module_words},
              {"question_words", o.question_words},
              {"pml_share", o.pml_share},
              {"levels", results}};
  if (!o.out.empty()) {
    std::ofstream(o.out) << out.dump(2) << "\n";
  }
  return 0;
}
