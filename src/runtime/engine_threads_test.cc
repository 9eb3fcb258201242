// One Engine under several threads at once: plain and chat generation, saved
// states (chat turns, completions, batches, snapshots) and PML (compile, run,
// cache_pml) interleaved. Every call's answer must equal the one it gives
// when the same calls run one after another on a fresh engine (greedy
// decoding, so answers are exact).
#include <boost/test/unit_test.hpp>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "pcache/engine.h"
#include "testing.h"

namespace pcache {
namespace {

constexpr const char* kSchema = R"(<schema name="guide">
  <system>You are a city guide. Answer in one sentence.</system>
  <union scaffold="porto">
    <module name="porto">Porto: port wine cellars, the Ribeira, the Douro bridges.
      <module name="food">Try a francesinha on <parameter name="day" length="6" scaffold="Monday"/>.</module>
    </module>
    <module name="lisbon">Lisbon: trams, Alfama, pasteis de nata in Belem.</module>
  </union>
  <module name="weather" cache="false">Weather: <parameter name="sky" length="8"/>.</module>
</schema>)";

SamplingOptions greedy(int n = 4) {
  SamplingOptions o;
  o.max_tokens = n;
  o.stop_at_eos = false;
  return o;
}

std::unique_ptr<Engine> open_engine() {
  auto e = Engine::open(testing::fixture("tiny-mistral"));  // prefix cache on: shared by threads
  BOOST_REQUIRE_MESSAGE(e.ok(), e.status().to_string());
  BOOST_REQUIRE((*e)->add_schema(kSchema).ok());
  return std::move(e).value();
}

// What a call answered: its tokens, or its error.
template <typename T>
std::string answer(const StatusOr<T>& r, const std::function<std::string(const T&)>& tokens) {
  return r.ok() ? tokens(*r) : "error: " + r.status().to_string();
}

std::string ids(const std::vector<int>& v) {
  std::string s;
  for (int id : v) s += std::to_string(id) + " ";
  return s;
}

std::string gen(const StatusOr<Generation>& g) {
  return answer<Generation>(g, [](const Generation& x) { return ids(x.tokens) + "| " + x.text; });
}

// The calls, each self-contained on an engine (making its own states), so
// that any order of them must give the same answers. `dir` holds snapshots.
std::vector<std::function<std::string(Engine&)>> calls(const std::string& dir) {
  std::vector<std::function<std::string(Engine&)>> c;
  for (const char* text : {"The capital of France is", "The capital of France is a city",
                           "Once upon a time"}) {
    c.push_back([text](Engine& e) { return gen(e.generate(text, greedy(6))); });
  }
  c.push_back([](Engine& e) {
    return gen(e.generate_chat({{"system", "Be brief."}, {"user", "Name a colour."}}, greedy()));
  });
  c.push_back([](Engine& e) { return gen(e.generate_tokens({1, 415, 2936, 9060}, greedy())); });
  for (const char* system : {"You sell bread.", "You sell maps."}) {
    c.push_back([system](Engine& e) {
      auto s = e.cache_chat({{"system", system}});
      if (!s.ok()) return s.status().to_string();
      auto r1 = e.chat_completion(s->state, "What do you have?", greedy());
      if (!r1.ok()) return r1.status().to_string();
      auto r2 = e.chat_completion(r1->state, "How much?", greedy());
      std::string out = gen(r1->generation) + " / " +
                        answer<ChatResult>(r2, [](const ChatResult& r) { return gen(r.generation); });
      (void)e.release(s->state);
      (void)e.release(r1->state);
      if (r2.ok()) (void)e.release(r2->state);
      return out;
    });
  }
  c.push_back([](Engine& e) {
    auto s = e.cache_prompt("Classify the review as positive or negative.");
    if (!s.ok()) return s.status().to_string();
    std::string out = gen(e.text_completion(s->state, " Review: great food.", greedy()));
    auto batch =
        e.text_completion(s->state, std::vector<std::string>{" Review: cold soup.", " Review: fine."}, greedy());
    out += " / " + answer<std::vector<Generation>>(batch, [](const std::vector<Generation>& b) {
      std::string t;
      for (const Generation& g : b) t += gen(g) + " ; ";
      return t;
    });
    (void)e.release(s->state);
    return out;
  });
  c.push_back([dir](Engine& e) {
    auto s = e.cache_prompt("A snapshot of this prompt");
    if (!s.ok()) return s.status().to_string();
    // One file per call: several threads may run this at once.
    const std::string path = dir + "/" + std::to_string(s->state) + ".pcs";
    Status saved = e.save(s->state, path, /*int8=*/true);
    if (!saved.ok()) return saved.to_string();
    auto loaded = e.load(path);
    if (!loaded.ok()) return loaded.status().to_string();
    std::string out = gen(e.text_completion(*loaded, " goes on", greedy()));
    (void)e.release(s->state);
    (void)e.release(*loaded);
    return out;
  });
  c.push_back([](Engine& e) {
    return answer<std::vector<ModuleReport>>(e.compile("guide"), [](const auto& modules) {
      std::string t;  // what was compiled, not whether it was cached already
      for (const ModuleReport& m : modules) t += m.module + ":" + std::to_string(m.tokens) + " ";
      return t;
    });
  });
  for (const char* prompt :
       {R"(<prompt schema="guide"><porto><food day="Friday"/></porto><weather sky="rainy"/><user>Where to eat?</user></prompt>)",
        R"(<prompt schema="guide"><lisbon/><weather sky="sunny"/><user>What to see?</user></prompt>)"}) {
    c.push_back([prompt](Engine& e) {
      RunOptions o;
      o.sampling = greedy();
      return gen(e.run(prompt, o));
    });
  }
  c.push_back([](Engine& e) {
    auto s = e.cache_pml(R"(<prompt schema="guide"><lisbon/><weather sky="grey"/></prompt>)");
    if (!s.ok()) return s.status().to_string();
    std::string out = gen(e.text_completion(s->state, "Any trams?", greedy()));
    (void)e.release(s->state);
    return out;
  });
  return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(engine_threads_test)

BOOST_AUTO_TEST_CASE(concurrent_calls_answer_as_sequential_ones) {
  testing::TempDir dir;
  const auto work = calls(dir.path);
  std::vector<std::string> expected;
  {
    auto e = open_engine();
    for (const auto& call : work) expected.push_back(call(*e));
  }
  for (const std::string& a : expected) BOOST_TEST_REQUIRE(a.rfind("error", 0) != 0, a);

  // Four threads, each making every call twice, in an order of its own, on
  // one engine.
  auto e = open_engine();
  constexpr size_t kThreads = 4, kRounds = 2;
  std::vector<std::vector<std::string>> got(kThreads, std::vector<std::string>(work.size() * kRounds));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (size_t k = 0; k < work.size() * kRounds; ++k) {
        const size_t i = (k * (2 * t + 1) + t) % work.size();  // thread t strides by 2t + 1
        got[t][k] = work[i](*e);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (size_t t = 0; t < kThreads; ++t) {
    for (size_t k = 0; k < work.size() * kRounds; ++k) {
      const size_t i = (k * (2 * t + 1) + t) % work.size();
      BOOST_TEST(got[t][k] == expected[i], "thread " << t << ", call " << i);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
