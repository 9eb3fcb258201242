#include "runtime/prompt_cache.h"

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "pcache/engine.h"
#include "testing.h"

namespace pcache {
namespace {

// Root text, a nested module, a union (scaffold member first), a parameter
// in the middle of a module, an uncached module, and a role tag.
const char* kSchema = R"(<schema name="guide" mode="MODE">
  <system>You answer questions about two towns.</system>
  <module name="intro">Welcome to the valley. <module name="history">The valley was settled long ago by farmers.</module> Enjoy.</module>
  <union scaffold="north">
    <module name="north">North town has a harbour and a market.</module>
    <module name="south">South town has a castle, a bridge and old walls around it.</module>
  </union>
  <module name="weather">Today is <parameter name="day" length="6"/> and the sky is clear.</module>
  <module name="news" cache="false">The fair opens at noon.</module>
  <module name="tips">Bring shoes for walking.</module>
</schema>)";

const char* kPrompt = R"(<prompt schema="guide">
  <intro><history/></intro>
  <south/>
  <weather day="Friday"/>
  <news/>
  <tips/>
  <user>What can I see?</user>
</prompt>)";

std::string schema_text(const std::string& mode) {
  std::string s = kSchema;
  s.replace(s.find("MODE"), 4, mode);
  return s;
}

struct Fixture {
  std::unique_ptr<Checkpoint> checkpoint;
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;
  ModuleStore store{ModuleStoreOptions{}};
  std::unique_ptr<PromptCache> cache;
  std::unique_ptr<BlockPool> pool;

  explicit Fixture(const std::string& name = "tiny-mistral") {
    checkpoint = std::move(Checkpoint::open(testing::fixture(name))).value();
    model = std::move(LlamaModel::load(*checkpoint, at::kFloat, at::kCPU)).value();
    pool = new_pool();
    tokenizer = std::move(Tokenizer::load(Tokenizer::path_in(checkpoint->dir()))).value();
    cache = std::make_unique<PromptCache>(*model, *tokenizer, ChatTemplate::kMistral, checkpoint->fingerprint(),
                                          store, pml::EncodingMode::kScaffold);
  }
  std::shared_ptr<const CompiledSchema> add(const std::string& text) {
    auto schema = pml::parse_schema(text, "schema.xml");
    BOOST_REQUIRE_MESSAGE(schema.ok(), schema.status().to_string());
    auto name = cache->add_schema(*schema);
    BOOST_REQUIRE_MESSAGE(name.ok(), name.status().to_string());
    return cache->schema(*name).value();
  }
  std::unique_ptr<BlockPool> new_pool() const {
    return std::move(BlockPool::create(model->config(), at::kFloat, at::kCPU, 256)).value();
  }
  pml::Prompt prompt(const std::string& text) {
    auto p = pml::parse_prompt(text, "prompt.xml");
    BOOST_REQUIRE_MESSAGE(p.ok(), p.status().to_string());
    return *p;
  }
};

// Logits of every computed token after assembling from the cache (modules
// found in `pool`, else in the store, else encoded).
at::Tensor assembled_logits(Fixture& f, const pml::Prompt& prompt, AssembledPrompt* out = nullptr,
                            BlockPool* pool = nullptr) {
  auto a = f.cache->assemble(prompt, {}, pool ? *pool : *f.pool, /*read_only=*/false);
  BOOST_REQUIRE_MESSAGE(a.ok(), a.status().to_string());
  const int64_t n = static_cast<int64_t>(a->tokens.size());
  BOOST_REQUIRE(a->sequence.append(a->tokens, a->positions).ok());
  auto logits = f.model->forward_paged({{&a->sequence, n, /*all_logits=*/true}});
  BOOST_REQUIRE_MESSAGE(logits.ok(), logits.status().to_string());
  if (out) *out = std::move(*a);
  return logits.value();
}

// The same computation as one forward with the mask the encoding mode
// implies, built from the layout alone: every cached entry of a module y sees
// the entries before it of the modules in y's context (its ancestors or its
// path, placeholders and unselected scaffold members included); the computed
// tokens see every stored entry of the imported modules and each other
// causally. Entries seen only as context are rows too (their own logits are
// ignored).
at::Tensor reference_logits(Fixture& f, const CompiledSchema& s, const pml::Prompt& prompt) {
  const Layout& layout = s.layout;
  ModuleEncoder encoder(*f.model, layout, s.schema.mode);
  auto selected = pml::bind(s.schema, prompt).value();
  std::vector<int> imported = {0};
  for (const auto& sel : selected) imported.push_back(layout.by_path.at(sel.path));

  struct Row {
    int64_t position, token;
    int module;        // -1: computed at request time
    bool placeholder;
  };
  std::vector<Row> rows;
  std::set<std::pair<int, int64_t>> have;
  std::vector<int> todo;
  for (int m : imported) {
    if (layout.modules[m].cached) todo.push_back(m);
  }
  std::set<int> expanded;
  while (!todo.empty()) {
    int y = todo.back();
    todo.pop_back();
    if (!expanded.insert(y).second) continue;
    for (int z : encoder.context_of(y)) {
      for (const Segment& seg : layout.modules[z].segments) {
        for (size_t i = 0; i < seg.tokens.size(); ++i) {
          const int64_t pos = seg.start + static_cast<int64_t>(i);
          if (pos >= layout.modules[y].end || !have.insert({z, pos}).second) continue;
          rows.push_back({pos, seg.tokens[i], z, seg.is_parameter()});
        }
      }
      todo.push_back(z);
    }
  }
  auto assembled = f.cache->assemble(prompt, {}, *f.pool, true).value();
  const size_t first_new = rows.size();
  for (size_t i = 0; i < assembled.tokens.size(); ++i) {
    rows.push_back({assembled.positions[i], assembled.tokens[i], -1, false});
  }
  const int64_t n = static_cast<int64_t>(rows.size());
  std::set<int> imported_set(imported.begin(), imported.end());
  at::Tensor mask = at::zeros({n, n}, at::kBool);
  for (int64_t i = 0; i < n; ++i) {
    const Row& r = rows[i];
    for (int64_t j = 0; j < n; ++j) {
      const Row& c = rows[j];
      bool see;
      if (r.module >= 0) {
        auto ctx = encoder.context_of(r.module);
        see = c.module >= 0 && std::find(ctx.begin(), ctx.end(), c.module) != ctx.end() &&
              c.position <= r.position;
      } else if (c.module >= 0) {
        see = !c.placeholder && imported_set.count(c.module) && layout.modules[c.module].cached;
      } else {
        see = c.position <= r.position;
      }
      mask[i][j] = see;
    }
  }
  std::vector<int64_t> tokens, positions;
  for (const Row& r : rows) {
    tokens.push_back(r.token);
    positions.push_back(r.position);
  }
  KVCache cache = f.model->new_cache();
  ForwardOptions opts;
  opts.mask = mask;
  auto logits = f.model->forward(at::tensor(tokens, at::kLong).view({1, n}),
                                 at::tensor(positions, at::kLong).view({1, n}), cache, opts);
  BOOST_REQUIRE_MESSAGE(logits.ok(), logits.status().to_string());
  return logits.value()[0].narrow(0, static_cast<int64_t>(first_new), n - static_cast<int64_t>(first_new));
}

// Greedy tokens of a prompt, with or without the cache.
std::vector<int> greedy(Engine& engine, const std::string& prompt, bool use_cache, int n = 8) {
  RunOptions o;
  o.use_cache = use_cache;
  o.sampling.max_tokens = n;
  o.sampling.stop_at_eos = false;
  auto g = engine.run(prompt, o);
  BOOST_REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  return g->tokens;
}

std::unique_ptr<Engine> open_engine(EngineOptions options = {}) {
  auto e = Engine::open(testing::fixture("tiny-mistral"), options);
  BOOST_REQUIRE_MESSAGE(e.ok(), e.status().to_string());
  return std::move(e).value();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(prompt_cache_test)

BOOST_AUTO_TEST_CASE(assembly_equals_the_implied_attention) {
  for (const std::string mode : {"independent", "scaffold"}) {
    Fixture f;
    auto s = f.add(schema_text(mode));
    pml::Prompt p = f.prompt(kPrompt);
    AssembledPrompt a{*f.pool};
    at::Tensor got = assembled_logits(f, p, &a);
    at::Tensor want = reference_logits(f, *s, p);
    BOOST_TEST_INFO(mode);
    BOOST_TEST(got.size(0) == want.size(0));
    BOOST_TEST((got - want).abs().max().item<double>() < 1e-4);
    // Cached: root, intro, history, south, weather (less its slot), tips.
    BOOST_TEST(a.modules_encoded + a.modules_reused == 6);
    // Computed: "Friday" in the slot, the news module, the user turn.
    BOOST_TEST(a.positions.front() >= s->layout.modules[s->layout.by_path.at("weather")].start);
    BOOST_TEST(a.positions.back() > s->layout.total_length);
  }
}

BOOST_AUTO_TEST_CASE(a_schema_longer_than_the_context_is_refused_before_encoding) {
  Fixture f;  // tiny-mistral: max_position_embeddings 4096
  auto schema = pml::parse_schema(
      "<schema name=\"long\"><module name=\"m\"><parameter name=\"p\" length=\"5000\"/>"
      "</module></schema>",
      "schema.xml");
  BOOST_REQUIRE(schema.ok());
  auto added = f.cache->add_schema(*schema);
  BOOST_REQUIRE(!added.ok());
  BOOST_TEST(added.status().message().find("more than the model's context of 4096") !=
             std::string::npos);
}

// So long that no encoding could fit the context: refused before any text
// is encoded (encoding 4 MiB takes seconds; the refusal does not).
BOOST_AUTO_TEST_CASE(a_schema_of_too_much_text_is_refused_before_encoding) {
  Fixture f;  // tiny-mistral: max_position_embeddings 4096
  std::string text;
  while (text.size() < (1u << 20)) text += "menu table dinner fish bread ";
  auto schema = pml::parse_schema("<schema name=\"big\"><module name=\"m\">" + text + "</module></schema>",
                                  "schema.xml");
  BOOST_REQUIRE(schema.ok());
  auto added = f.cache->add_schema(*schema);
  BOOST_REQUIRE(!added.ok());
  BOOST_TEST(added.status().message().find("bytes of text, at least") != std::string::npos,
             added.status().message());
}

BOOST_AUTO_TEST_CASE(second_request_reuses_every_module) {
  Fixture f;
  f.add(schema_text("scaffold"));
  pml::Prompt p = f.prompt(kPrompt);
  AssembledPrompt first{*f.pool}, second{*f.pool};
  at::Tensor a = assembled_logits(f, p, &first);
  at::Tensor b = assembled_logits(f, p, &second);
  BOOST_TEST(first.modules_encoded > 0);
  BOOST_TEST(second.modules_encoded == 0);
  BOOST_TEST(second.modules_reused == 6);
  BOOST_TEST(at::equal(a, b));
}

// A stored entry whose tokens, positions or shapes are not the module's (a
// cache file changed with its checksum recomputed) is encoded again.
BOOST_AUTO_TEST_CASE(entries_that_are_not_the_modules_are_reencoded) {
  Fixture f;
  auto s = f.add(schema_text("scaffold"));
  pml::Prompt p = f.prompt(kPrompt);
  AssembledPrompt first{*f.pool};
  at::Tensor want = assembled_logits(f, p, &first);
  const int tips = s->layout.by_path.at("tips");
  ModuleEncoder encoder(*f.model, s->layout, s->schema.mode);
  const ModuleKey key{f.checkpoint->fingerprint(), "guide", "tips", encoder.content_hash(tips)};
  const std::vector<std::function<void(ModuleKV&)>> damages = {
      [](ModuleKV& kv) { kv.tokens[0] += 1; },
      [](ModuleKV& kv) { kv.positions[0] -= 1; },
      [](ModuleKV& kv) {  // one entry fewer, consistently
        kv.tokens.pop_back();
        kv.positions.pop_back();
        for (auto* side : {&kv.k, &kv.v}) {
          for (at::Tensor& t : *side) t = t.narrow(1, 0, t.size(1) - 1).contiguous();
        }
      },
      [](ModuleKV& kv) {  // another model's head_dim
        for (auto* side : {&kv.k, &kv.v}) {
          for (at::Tensor& t : *side) t = at::cat({t, t}, 2);
        }
      }};
  for (size_t i = 0; i < damages.size(); ++i) {
    auto stored = f.store.get(key);
    BOOST_REQUIRE(stored.ok() && *stored);
    ModuleKV bad = **stored;
    damages[i](bad);
    BOOST_REQUIRE(f.store.put(key, bad).ok());
    // A fresh pool: the store's entry is read (the pool's blocks would be used as they are).
    std::unique_ptr<BlockPool> pool = f.new_pool();
    AssembledPrompt again{*pool};
    at::Tensor got = assembled_logits(f, p, &again, pool.get());
    BOOST_TEST_INFO("damage " << i);
    BOOST_TEST(again.modules_encoded == 1);
    BOOST_TEST(again.modules_reused == 5);
    BOOST_TEST(at::equal(got, want));
  }
}

BOOST_AUTO_TEST_CASE(layout_positions_follow_the_rule) {
  Fixture f;
  auto s = f.add(schema_text("scaffold"));
  const Layout& l = s->layout;
  const auto& north = l.modules[l.by_path.at("north")];
  const auto& south = l.modules[l.by_path.at("south")];
  const auto& weather = l.modules[l.by_path.at("weather")];
  BOOST_TEST(north.start == south.start);  // union members share a start
  BOOST_TEST(weather.start == std::max(north.end, south.end));  // the union is as long as its longest member
  const Segment* slot = nullptr;
  for (const auto& seg : weather.segments) {
    if (seg.is_parameter()) slot = &seg;
  }
  BOOST_REQUIRE(slot);
  BOOST_TEST(slot->length == 6);
  BOOST_TEST(slot->tokens.size() == 6u);  // unk placeholders
  BOOST_TEST(l.modules[0].segments[0].start == 0);  // bos
  BOOST_TEST(l.total_length == l.modules[l.by_path.at("tips")].end);
  BOOST_TEST(l.modules[l.by_path.at("intro/history")].parent == l.by_path.at("intro"));
}

BOOST_AUTO_TEST_CASE(scaffold_path_is_exact) {
  // Every module on the default path, no parameters, no uncached module: the
  // cache gives what a plain prefill of the same tokens gives.
  auto engine = open_engine();
  const std::string schema = R"(<schema name="s" mode="scaffold">Notes for the trip.
    <module name="a">The first stop is a lake with boats.</module>
    <union><module name="b1">Then a forest walk.</module><module name="b2">Then a long museum visit.</module></union>
    <module name="c">Dinner is at eight.</module></schema>)";
  BOOST_REQUIRE(engine->add_schema(schema).ok());
  const std::string prompt = R"(<prompt schema="s"><a/><b1/><c/><user>Plan my day.</user></prompt>)";
  BOOST_TEST(greedy(*engine, prompt, true) == greedy(*engine, prompt, false));
  BOOST_TEST(greedy(*engine, prompt, true) == greedy(*engine, prompt, false));  // from the store this time
}

BOOST_AUTO_TEST_CASE(first_module_alone_is_exact_in_both_modes) {
  for (const std::string mode : {"independent", "scaffold"}) {
    auto engine = open_engine();
    const std::string schema = "<schema name=\"s\" mode=\"" + mode + R"(">Notes for the trip.
      <module name="a">The first stop is a lake with boats.</module>
      <module name="b">Then a forest walk.</module></schema>)";
    BOOST_REQUIRE(engine->add_schema(schema).ok());
    const std::string prompt = R"(<prompt schema="s"><a/><user>Where first?</user></prompt>)";
    BOOST_TEST_INFO(mode);
    BOOST_TEST(greedy(*engine, prompt, true) == greedy(*engine, prompt, false));
  }
}

BOOST_AUTO_TEST_CASE(prefix_reuse_is_exact) {
  EngineOptions no_prefix;
  no_prefix.prefix_cache = false;
  auto plain = open_engine(no_prefix);
  auto cached = open_engine();
  SamplingOptions o;
  o.max_tokens = 8;
  o.stop_at_eos = false;
  const std::vector<ChatMessage> first = {{"system", "You are terse."}, {"user", "Name a colour."}};
  auto a = cached->generate_chat(first, o);
  BOOST_REQUIRE(a.ok());
  BOOST_TEST(a->timings.cached_tokens == 0);
  // The same conversation one turn on: its tokens begin with the first's.
  std::vector<ChatMessage> second = {{"user", "Name a colour."}, {"assistant", "Red."}, {"user", "Another one."}};
  auto b = cached->generate_chat(second, o);
  auto b_plain = plain->generate_chat(second, o);
  BOOST_REQUIRE(b.ok() && b_plain.ok());
  BOOST_TEST(b->tokens == b_plain->tokens);
  // Reused in whole blocks of 16 entries: a prompt of more than two.
  const std::string text =
      "A long plain prompt about boats and lakes, rivers and bridges, harbours, ferries, canals "
      "and the old mills along the water";
  auto again = cached->generate(text, o);
  auto again2 = cached->generate(text + " in the north", o);
  auto again2_plain = plain->generate(text + " in the north", o);
  BOOST_REQUIRE(again.ok() && again2.ok() && again2_plain.ok());
  BOOST_TEST(again2->timings.cached_tokens >= 32);
  BOOST_TEST(again2->timings.cached_tokens % 16 == 0);
  BOOST_TEST(again2->tokens == again2_plain->tokens);
}

BOOST_AUTO_TEST_CASE(changed_schema_reencodes_only_what_changed) {
  for (const std::string mode : {"independent", "scaffold"}) {
    auto engine = open_engine();
    std::string v1 = "<schema name=\"s\" mode=\"" + mode + R"(">Intro.
      <module name="a">Alpha text here.</module><module name="b">Beta text.</module><module name="c">Gamma.</module></schema>)";
    BOOST_REQUIRE(engine->add_schema(v1).ok());
    auto first = engine->compile("s");
    BOOST_REQUIRE(first.ok());
    for (const auto& m : *first) BOOST_TEST(!m.was_cached);
    std::string v2 = v1;
    v2.replace(v2.find("Gamma."), 6, "Delta!");  // the last module changes
    BOOST_REQUIRE(engine->add_schema(v2).ok());
    auto second = engine->compile("s");
    BOOST_REQUIRE(second.ok());
    for (const auto& m : *second) {
      BOOST_TEST_INFO(mode << " " << m.module);
      BOOST_TEST(m.was_cached == (m.module != "c"));
    }
  }
}

BOOST_AUTO_TEST_CASE(read_only_stores_nothing) {
  auto engine = open_engine();
  BOOST_REQUIRE(engine->add_schema(schema_text("independent")).ok());
  RunOptions o;
  o.read_only = true;
  o.sampling.max_tokens = 2;
  auto g = engine->run(kPrompt, o);
  BOOST_REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  BOOST_TEST(engine->cache_stats().entries == 0);
  BOOST_TEST(g->timings.modules_encoded == 6);
  o.read_only = false;
  BOOST_REQUIRE(engine->run(kPrompt, o).ok());
  BOOST_TEST(engine->cache_stats().entries == 6);
}

BOOST_AUTO_TEST_CASE(damaged_disk_entries_are_reencoded) {
  testing::TempDir dir;
  EngineOptions options;
  options.cache_dir = dir.path;
  std::vector<int> want;
  {
    auto engine = open_engine(options);
    BOOST_REQUIRE(engine->add_schema(schema_text("scaffold")).ok());
    want = greedy(*engine, kPrompt, true);
  }
  // Damage every file: flip a byte in the middle.
  int damaged = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) {
    std::fstream file(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(std::filesystem::file_size(e.path()) / 2));
    file.put('\x5a');
    ++damaged;
  }
  BOOST_TEST(damaged >= 6);
  auto engine = open_engine(options);
  BOOST_REQUIRE(engine->add_schema(schema_text("scaffold")).ok());
  BOOST_TEST(greedy(*engine, kPrompt, true) == want);
  BOOST_TEST(engine->cache_stats().corrupt_files >= 1);
  // And a third process reads the re-encoded files back.
  auto third = open_engine(options);
  BOOST_REQUIRE(third->add_schema(schema_text("scaffold")).ok());
  BOOST_TEST(greedy(*third, kPrompt, true) == want);
  BOOST_TEST(third->cache_stats().disk_hits >= 6);
}

BOOST_AUTO_TEST_CASE(request_errors_name_the_place) {
  auto engine = open_engine();
  BOOST_REQUIRE(engine->add_schema(schema_text("scaffold")).ok());
  RunOptions o;
  auto long_value = engine->run(R"(<prompt schema="guide"><weather day="a very long day name indeed, far too long"/><user>x</user></prompt>)", o);
  BOOST_TEST(long_value.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(long_value.status().message().find("prompt.xml") == std::string::npos);
  BOOST_TEST(long_value.status().message().find("<string>:1:") != std::string::npos);
  BOOST_TEST(long_value.status().message().find("longer than its length 6") != std::string::npos);
  auto unknown = engine->run(R"(<prompt schema="nope"><user>x</user></prompt>)", o);
  BOOST_TEST(unknown.status().code() == StatusCode::kNotFound);
  BOOST_TEST(unknown.status().message().find("guide") != std::string::npos);
  auto empty = engine->run(R"(<prompt schema="guide"><intro/></prompt>)", o);
  BOOST_TEST(empty.status().message().find("nothing to compute") != std::string::npos);
  // The cache still serves a good prompt afterwards.
  BOOST_TEST(engine->run(kPrompt, o).ok());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
