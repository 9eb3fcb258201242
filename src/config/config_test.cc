#include "config/config.h"

#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "testing.h"

namespace pcache {
namespace {

Config parse_ok(const std::string& text) {
  auto config = parse_config(text, "test.yaml");
  BOOST_REQUIRE_MESSAGE(config.ok(), config.status().to_string());
  return *config;
}

// Parses `text`, expecting InvalidArgument whose message holds every part.
void expect_error(const std::string& text, std::initializer_list<std::string> parts) {
  auto config = parse_config(text, "test.yaml");
  BOOST_REQUIRE_MESSAGE(!config.ok(), "parsed without error:\n" << text);
  BOOST_TEST(config.status().code() == StatusCode::kInvalidArgument);
  const std::string message = config.status().message();
  for (const auto& part : parts) {
    BOOST_TEST(message.find(part) != std::string::npos, "'" << part << "' not in: " << message);
  }
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  BOOST_REQUIRE(out.good());
}

// Sets environment variables for one test and restores them afterwards.
class EnvGuard {
 public:
  EnvGuard(std::initializer_list<std::string> names) {
    for (const auto& name : names) {
      const char* value = std::getenv(name.c_str());
      saved_[name] = value ? std::optional<std::string>(value) : std::nullopt;
    }
  }
  ~EnvGuard() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  void set(const std::string& name, const std::string& value) {
    BOOST_REQUIRE(saved_.count(name));
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  void unset(const std::string& name) {
    BOOST_REQUIRE(saved_.count(name));
    ::unsetenv(name.c_str());
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

const char kFullConfig[] =
    "model: /models/m\n"
    "device: cuda:1\n"
    "dtype: bfloat16\n"
    "chat_template: llama2\n"
    "encoding: independent\n"
    "prefix_cache: false\n"
    "max_states: 16\n"
    "cache:\n"
    "  dir: /var/cache/pcache\n"
    "  device_bytes: 1GiB\n"
    "  host_bytes: 3000000\n"
    "  max_pinned_share: 0.25\n"
    "  int8_tiers: true\n"
    "serving:\n"
    "  kv_pool_bytes: 6GiB\n"
    "  max_batch_tokens: 2048\n"
    "  max_lone_batch_tokens: 8192\n"
    "  max_running: 32\n"
    "  max_state_bytes: 1GiB\n"
    "sampling:\n"
    "  max_tokens: 64\n"
    "  temperature: 0.5\n"
    "  top_k: 7\n"
    "  top_p: 0.9\n"
    "  seed: 18446744073709551615\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(config_test)

BOOST_AUTO_TEST_CASE(every_key_is_read) {
  Config c = parse_ok(kFullConfig);
  BOOST_TEST(c.source == "test.yaml");
  BOOST_TEST(c.model == "/models/m");
  BOOST_TEST(c.engine.device == "cuda:1");
  BOOST_TEST(c.engine.dtype == "bfloat16");
  BOOST_TEST(c.engine.chat_template == "llama2");
  BOOST_TEST(c.engine.default_encoding == "independent");
  BOOST_TEST(c.engine.prefix_cache == false);
  BOOST_TEST(c.max_states == 16);
  BOOST_TEST(c.engine.max_states == 16);
  BOOST_TEST(c.engine.cache_dir == "/var/cache/pcache");
  BOOST_TEST(c.engine.device_cache_bytes == (int64_t{1} << 30));
  BOOST_TEST(c.engine.host_cache_bytes == 3000000);
  BOOST_TEST(c.engine.max_pinned_share == 0.25);
  BOOST_TEST(c.engine.int8_tiers == true);
  BOOST_TEST(c.sampling.max_tokens == 64);
  BOOST_TEST(c.sampling.temperature == 0.5f);
  BOOST_TEST(c.sampling.top_k == 7);
  BOOST_TEST(c.sampling.top_p == 0.9f);
  BOOST_TEST(c.engine.kv_pool_bytes == 6ll << 30);
  BOOST_TEST(c.engine.max_batch_tokens == 2048);
  BOOST_TEST(c.engine.max_lone_batch_tokens == 8192);
  BOOST_TEST(c.engine.max_running == 32);
  BOOST_TEST(c.sampling.seed == UINT64_MAX);
  const std::set<std::string> all = {"model",
                                     "device",
                                     "dtype",
                                     "chat_template",
                                     "encoding",
                                     "prefix_cache",
                                     "max_states",
                                     "cache.dir",
                                     "cache.device_bytes",
                                     "cache.host_bytes",
                                     "cache.max_pinned_share",
                                     "cache.int8_tiers",
                                     "serving.kv_pool_bytes",
                                     "serving.max_batch_tokens",
                                     "serving.max_lone_batch_tokens",
                                     "serving.max_running",
                                     "serving.max_state_bytes",
                                     "sampling.max_tokens",
                                     "sampling.temperature",
                                     "sampling.top_k",
                                     "sampling.top_p",
                                     "sampling.seed"};
  BOOST_TEST(c.keys_set == all, boost::test_tools::per_element());
}

// Every key read is applied (a key once was read and then dropped), except
// those the command line gave.
BOOST_AUTO_TEST_CASE(every_key_read_is_applied_unless_the_command_line_gave_it) {
  const Config c = parse_ok(kFullConfig);
  std::string model;
  EngineOptions engine;
  SamplingOptions sampling;
  apply_config(c, {}, &model, &engine, &sampling);
  BOOST_TEST(model == "/models/m");
  BOOST_TEST(engine.device == "cuda:1");
  BOOST_TEST(engine.dtype == "bfloat16");
  BOOST_TEST(engine.chat_template == "llama2");
  BOOST_TEST(engine.default_encoding == "independent");
  BOOST_TEST(engine.prefix_cache == false);
  BOOST_TEST(engine.max_states == 16);
  BOOST_TEST(engine.cache_dir == "/var/cache/pcache");
  BOOST_TEST(engine.device_cache_bytes == (int64_t{1} << 30));
  BOOST_TEST(engine.host_cache_bytes == 3000000);
  BOOST_TEST(engine.max_pinned_share == 0.25);
  BOOST_TEST(engine.int8_tiers == true);
  BOOST_TEST(engine.kv_pool_bytes == 6ll << 30);
  BOOST_TEST(engine.max_batch_tokens == 2048);
  BOOST_TEST(engine.max_lone_batch_tokens == 8192);
  BOOST_TEST(engine.max_running == 32);
  BOOST_TEST(engine.max_state_bytes == 1ll << 30);
  BOOST_TEST(sampling.max_tokens == 64);
  BOOST_TEST(sampling.temperature == 0.5f);
  BOOST_TEST(sampling.top_k == 7);
  BOOST_TEST(sampling.top_p == 0.9f);
  BOOST_TEST(sampling.seed == UINT64_MAX);

  // Given on the command line: kept as they are.
  std::string flag_model = "/flag/model";
  EngineOptions flags;
  flags.device = "cpu";
  flags.kv_pool_bytes = 1;
  SamplingOptions flag_sampling;
  flag_sampling.seed = 5;
  apply_config(c, {"model", "device", "serving.kv_pool_bytes", "sampling.seed"}, &flag_model,
               &flags, &flag_sampling);
  BOOST_TEST(flag_model == "/flag/model");
  BOOST_TEST(flags.device == "cpu");
  BOOST_TEST(flags.kv_pool_bytes == 1);
  BOOST_TEST(flag_sampling.seed == 5u);
  BOOST_TEST(flags.dtype == "bfloat16");  // not given: from the file
  BOOST_TEST(flag_sampling.top_k == 7);

  // Keys the file did not set leave the options alone.
  EngineOptions untouched;
  untouched.kv_pool_bytes = 3;
  apply_config(parse_ok("device: cuda\n"), {}, &model, &untouched, &sampling);
  BOOST_TEST(untouched.device == "cuda");
  BOOST_TEST(untouched.kv_pool_bytes == 3);
}

BOOST_AUTO_TEST_CASE(empty_file_gives_defaults) {
  const Config defaults;
  const EngineOptions engine;
  const SamplingOptions sampling;
  for (const char* text : {"", "# only a comment\n", "---\n", "\n\n", "~\n"}) {
    BOOST_TEST_CONTEXT("text: '" << text << "'") {
      Config c = parse_ok(text);
      BOOST_TEST(c.source == "test.yaml");
      BOOST_TEST(c.keys_set.empty());
      BOOST_TEST(c.model.empty());
      BOOST_TEST(c.max_states == defaults.max_states);
      BOOST_TEST(c.engine.device == engine.device);
      BOOST_TEST(c.engine.dtype == engine.dtype);
      BOOST_TEST(c.engine.device_cache_bytes == engine.device_cache_bytes);
      BOOST_TEST(c.engine.host_cache_bytes == engine.host_cache_bytes);
      BOOST_TEST(c.engine.cache_dir == engine.cache_dir);
      BOOST_TEST(c.sampling.max_tokens == sampling.max_tokens);
      BOOST_TEST(c.sampling.top_p == sampling.top_p);
    }
  }
}

BOOST_AUTO_TEST_CASE(absent_keys_keep_defaults) {
  Config c = parse_ok(
      "device: cuda\n"
      "cache:\n"
      "  host_bytes: 1MiB\n"
      "sampling:\n"
      "  top_p: 0.5\n");
  const EngineOptions engine;
  const SamplingOptions sampling;
  BOOST_TEST(c.engine.device == "cuda");
  BOOST_TEST(c.engine.host_cache_bytes == (1 << 20));
  BOOST_TEST(c.sampling.top_p == 0.5f);
  // Everything else as built in.
  BOOST_TEST(c.model.empty());
  BOOST_TEST(c.engine.dtype == engine.dtype);
  BOOST_TEST(c.engine.chat_template == engine.chat_template);
  BOOST_TEST(c.engine.default_encoding == engine.default_encoding);
  BOOST_TEST(c.engine.prefix_cache == engine.prefix_cache);
  BOOST_TEST(c.engine.cache_dir == engine.cache_dir);
  BOOST_TEST(c.engine.device_cache_bytes == engine.device_cache_bytes);
  BOOST_TEST(c.engine.max_pinned_share == engine.max_pinned_share);
  BOOST_TEST(c.engine.int8_tiers == engine.int8_tiers);
  BOOST_TEST(c.max_states == 8);
  BOOST_TEST(c.sampling.max_tokens == sampling.max_tokens);
  BOOST_TEST(c.sampling.temperature == sampling.temperature);
  BOOST_TEST(c.sampling.top_k == sampling.top_k);
  BOOST_TEST(c.sampling.seed == sampling.seed);
}

BOOST_AUTO_TEST_CASE(keys_set_lists_only_given_keys) {
  Config c = parse_ok(
      "dtype: float16\n"
      "cache:\n"
      "  dir: ''\n"
      "sampling:\n"
      "  seed: 7\n"
      "  top_p: 1\n");
  const std::set<std::string> expected = {"dtype", "cache.dir", "sampling.seed", "sampling.top_p"};
  BOOST_TEST(c.keys_set == expected, boost::test_tools::per_element());
  BOOST_TEST(c.has("cache.dir"));
  BOOST_TEST(!c.has("cache"));
  BOOST_TEST(!c.has("sampling.top_k"));
  // A value equal to the default still counts as given.
  BOOST_TEST(c.engine.cache_dir == "");
  BOOST_TEST(c.sampling.top_p == 1.f);
  // Empty sections are fine and set nothing.
  Config empty = parse_ok("cache:\nsampling: {}\n");
  BOOST_TEST(empty.keys_set.empty());
}

BOOST_AUTO_TEST_CASE(byte_size_units) {
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"0", 0},
      {"4096", 4096},
      {"+12", 12},
      {"7B", 7},
      {"1KB", 1000},
      {"1MB", 1000000},
      {"3GB", 3000000000},
      {"2TB", 2000000000000},
      {"1KiB", 1024},
      {"2MiB", 2 << 20},
      {"2GiB", int64_t{2} << 30},
      {"1TiB", int64_t{1} << 40},
      {"1.5GiB", 1610612736},
      {"0.5KiB", 512},
      {"0.1KiB", 102},  // rounded down to whole bytes
      {"2 GiB", int64_t{2} << 30},
      {"\"8GiB\"", int64_t{8} << 30},
      {"1.0", 1},
      {"8388607TiB", int64_t{8388607} << 40},
      {"9223372036854775807", INT64_MAX},
      {"9223372036854775807B", INT64_MAX},
  };
  for (const auto& [text, bytes] : cases) {
    BOOST_TEST_CONTEXT("device_bytes: " << text) {
      Config c = parse_ok("cache:\n  device_bytes: " + text + "\n");
      BOOST_TEST(c.engine.device_cache_bytes == bytes);
    }
  }
}

BOOST_AUTO_TEST_CASE(byte_size_errors) {
  expect_error("cache:\n  device_bytes: -1\n",
               {"test.yaml, line 2, column 3", "cache.device_bytes", "must not be negative"});
  expect_error("cache:\n  host_bytes: -2GiB\n", {"line 2", "cache.host_bytes", "negative"});
  expect_error("cache:\n  dir: /x\n  host_bytes: 2gib\n",
               {"line 3", "cache.host_bytes", "unknown unit 'gib'", "KiB, MiB, GiB, TiB"});
  expect_error("cache:\n  host_bytes: 2 PiB\n", {"line 2", "unknown unit 'PiB'"});
  expect_error("cache:\n  host_bytes: 9223372036854775808\n", {"line 2", "too large"});
  expect_error("cache:\n  host_bytes: 8388608TiB\n", {"line 2", "cache.host_bytes", "too large"});
  expect_error("cache:\n  host_bytes: 99999999999999999999999GiB\n", {"line 2", "too large"});
  expect_error("cache:\n  host_bytes: 1.5\n", {"line 2", "a fraction of a byte"});
  expect_error("cache:\n  host_bytes: GiB\n", {"line 2", "expected bytes"});
  expect_error("cache:\n  host_bytes: ''\n", {"line 2", "expected bytes"});
  expect_error("cache:\n  host_bytes: 1e9\n", {"line 2", "unknown unit 'e9'"});
  expect_error("cache:\n  host_bytes: [1]\n", {"line 2", "cache.host_bytes", "got a list"});
}

BOOST_AUTO_TEST_CASE(home_is_expanded) {
  EnvGuard env({"HOME"});
  env.set("HOME", "/home/tester");
  Config c = parse_ok("model: ~/models/m\ncache:\n  dir: ~/.cache/pcache\n");
  BOOST_TEST(c.model == "/home/tester/models/m");
  BOOST_TEST(c.engine.cache_dir == "/home/tester/.cache/pcache");
  BOOST_TEST(*expand_home("~") == "/home/tester");
  BOOST_TEST(*expand_home("~/") == "/home/tester/");
  BOOST_TEST(*expand_home("/a/~/b") == "/a/~/b");
  BOOST_TEST(*expand_home("rel/path") == "rel/path");
  BOOST_TEST(*expand_home("") == "");
  BOOST_TEST(*expand_home("~root/x") == "/root/x");
  BOOST_TEST(parse_ok("cache:\n  dir: \"~\"\n").engine.cache_dir == "/home/tester");
  // A bare ~ is YAML's null.
  expect_error("cache:\n  dir: ~\n", {"line 2", "cache.dir", "has no value", "write \"~\""});
  env.set("HOME", "/");
  BOOST_TEST(*expand_home("~/x") == "/x");
  auto unknown = expand_home("~no-such-user-pcache/x");
  BOOST_TEST(unknown.status().code() == StatusCode::kInvalidArgument);
  expect_error("cache:\n  dir: ~no-such-user-pcache/x\n",
               {"line 2", "cache.dir", "no user 'no-such-user-pcache'"});
}

BOOST_AUTO_TEST_CASE(unknown_keys) {
  expect_error(
      "device: cpu\n"
      "sampling:\n"
      "  top_q: 0.9\n",
      {"test.yaml, line 3, column 3", "unknown key 'sampling.top_q'",
       "valid keys under 'sampling': max_tokens, temperature, top_k, top_p, seed",
       "did you mean 'top_k' or 'top_p'?"});
  expect_error("sampling:\n  top_pp: 0.9\n",
               {"line 2, column 3", "unknown key 'sampling.top_pp'", "; did you mean 'top_p'?"});
  expect_error("dtpye: float32\n",
               {"line 1, column 1", "unknown key 'dtpye'",
                "valid keys at the top level: model, device, dtype, weights, chat_template, "
                "encoding, schema_path, prefix_cache, max_states, cache, serving, sampling",
                "did you mean 'dtype'?"});
  // The right name in the wrong section.
  expect_error("model: m\ntop_p: 0.9\n", {"line 2", "'top_p'", "did you mean 'sampling.top_p'?"});
  expect_error("cache:\n  device: cuda\n", {"line 2", "'cache.device'", "did you mean 'device'?"});
  // Nothing close: no suggestion.
  auto far = parse_config("colour: blue\n", "test.yaml");
  BOOST_TEST(far.status().message().find("did you mean") == std::string::npos);
  expect_error("colour: blue\n", {"line 1", "unknown key 'colour'"});
  // Keys must be words.
  expect_error("? [a, b]\n: 1\n", {"line 1", "must be a word", "got a list"});
}

BOOST_AUTO_TEST_CASE(wrong_types) {
  expect_error("max_states: lots\n", {"line 1", "max_states", "expected an integer, got 'lots'"});
  expect_error("max_states: 2.5\n", {"line 1", "expected an integer, got '2.5'"});
  expect_error("\n\nmax_states: \"4\"\n",
               {"line 3, column 1", "max_states", "expected an integer, got the string '4'"});
  expect_error("sampling:\n  top_k: {a: 1}\n", {"line 2", "sampling.top_k", "got a map"});
  expect_error("sampling:\n  temperature: hot\n",
               {"line 2", "sampling.temperature", "expected a number, got 'hot'"});
  expect_error("sampling:\n  temperature: '0.5'\n", {"line 2", "the string '0.5'"});
  expect_error("sampling:\n  seed: \"1\"\n", {"line 2", "sampling.seed", "the string '1'"});
  expect_error("prefix_cache: maybe\n", {"line 1", "prefix_cache", "expected true or false"});
  expect_error("prefix_cache: 'true'\n", {"line 1", "prefix_cache", "the string 'true'"});
  expect_error("cache:\n  int8_tiers: 8\n", {"line 2", "cache.int8_tiers", "expected true or false"});
  expect_error("model: [a, b]\n", {"line 1", "model", "expected a path, got a list"});
  expect_error("device:\n  name: cuda\n", {"line 1", "device", "got a map"});
  expect_error("dtype:\n", {"line 1", "dtype", "has no value"});
  expect_error("cache: 5\n", {"line 1", "cache", "expected a map of keys", "got a scalar"});
  expect_error("model: m\nsampling:\n  - top_p\n", {"line 2", "sampling", "got a list"});
}

BOOST_AUTO_TEST_CASE(yaml_spellings_are_accepted) {
  Config c = parse_ok(
      "prefix_cache: no\n"
      "max_states: +12\n"
      "cache: {device_bytes: &size 64MiB, host_bytes: *size}\n"
      "sampling:\n"
      "  temperature: 5e-1\n"
      "  top_p: .5\n"
      "  seed: 0042\n"
      "model: 123\n");
  BOOST_TEST(c.engine.prefix_cache == false);
  BOOST_TEST(c.max_states == 12);
  BOOST_TEST(c.engine.device_cache_bytes == (64 << 20));
  BOOST_TEST(c.engine.host_cache_bytes == (64 << 20));
  BOOST_TEST(c.sampling.temperature == 0.5f);
  BOOST_TEST(c.sampling.top_p == 0.5f);
  BOOST_TEST(c.sampling.seed == 42u);
  BOOST_TEST(c.model == "123");
  BOOST_TEST(parse_ok("prefix_cache: TRUE\n").engine.prefix_cache == true);
}

BOOST_AUTO_TEST_CASE(values_out_of_range) {
  expect_error("max_states: 0\n",
               {"line 1", "max_states", "must be an integer in [1, 4096], got 0"});
  expect_error("max_states: 4097\n", {"line 1", "[1, 4096]"});
  expect_error("max_states: 99999999999999999999\n", {"line 1", "[1, 4096]"});
  BOOST_TEST(parse_ok("max_states: 4096\n").max_states == 4096);
  BOOST_TEST(parse_ok("max_states: 1\n").max_states == 1);
  expect_error("sampling:\n  max_tokens: 0\n", {"line 2", "sampling.max_tokens", "[1, 1048576]"});
  expect_error("sampling:\n  max_tokens: 1048577\n", {"line 2", "[1, 1048576]"});
  BOOST_TEST(parse_ok("sampling:\n  max_tokens: 1048576\n").sampling.max_tokens == 1048576);
  expect_error("sampling:\n  temperature: -0.1\n",
               {"line 2", "sampling.temperature", "must be in [0, 100], got -0.1"});
  expect_error("sampling:\n  temperature: 100.5\n", {"line 2", "[0, 100]"});
  expect_error("sampling:\n  temperature: nan\n", {"line 2", "[0, 100]"});
  BOOST_TEST(parse_ok("sampling:\n  temperature: 100\n").sampling.temperature == 100.f);
  expect_error("sampling:\n  top_k: -1\n", {"line 2", "sampling.top_k", "[0, 2147483647]"});
  expect_error("sampling:\n  top_p: 0\n", {"line 2", "sampling.top_p", "must be in (0, 1], got 0"});
  expect_error("sampling:\n  top_p: 1e-60\n", {"line 2", "(0, 1]"});  // 0 as a float
  expect_error("sampling:\n  top_p: 1.01\n", {"line 2", "(0, 1]"});
  expect_error("sampling:\n  seed: -1\n",
               {"line 2", "sampling.seed", "must be an integer in [0, 18446744073709551615]"});
  expect_error("sampling:\n  seed: 18446744073709551616\n", {"line 2", "must be an integer in"});
  expect_error("sampling:\n  seed: 1.5\n", {"line 2", "expected an integer in"});
  expect_error("cache:\n  max_pinned_share: 1.5\n",
               {"line 2", "cache.max_pinned_share", "must be in [0, 1], got 1.5"});
  expect_error("cache:\n  max_pinned_share: -0.5\n", {"line 2", "[0, 1]"});
  BOOST_TEST(parse_ok("cache:\n  max_pinned_share: 0\n").engine.max_pinned_share == 0);
  BOOST_TEST(parse_ok("cache:\n  max_pinned_share: 1\n").engine.max_pinned_share == 1);
  expect_error("serving:\n  max_running: 0\n", {"line 2", "serving.max_running", "[1, 65536]"});
  expect_error("serving:\n  max_batch_tokens: 0\n", {"line 2", "serving.max_batch_tokens", "[1, 1048576]"});
  expect_error("serving:\n  max_lone_batch_tokens: 1048577\n",
               {"line 2", "serving.max_lone_batch_tokens", "[0, 1048576]"});
  expect_error("serving:\n  kv_pool_bytes: lots\n", {"line 2", "serving.kv_pool_bytes"});
}

BOOST_AUTO_TEST_CASE(words_must_be_allowed) {
  for (const char* device : {"cpu", "cuda", "cuda:0", "cuda:7", "cuda:15"}) {
    BOOST_TEST(parse_ok(std::string("device: ") + device + "\n").engine.device == device);
  }
  for (const char* device : {"gpu", "'cuda:'", "cuda:x", "cuda:-1", "cuda:01", "CUDA", "mps"}) {
    BOOST_TEST_CONTEXT(device) {
      expect_error(std::string("model: m\ndevice: ") + device + "\n",
                   {"line 2, column 1", "device", "expected cpu, cuda or cuda:N"});
    }
  }
  expect_error("dtype: fp16\n", {"line 1", "dtype",
                                 "expected one of auto, float32, bfloat16, "
                                 "float16, got 'fp16'"});
  expect_error("chat_template: vicuna\n",
               {"line 1", "chat_template", "one of auto, llama3, chatml, mistral, llama2", "'vicuna'"});
  BOOST_TEST(parse_ok("chat_template: chatml\n").engine.chat_template == "chatml");
  expect_error("encoding: shared\n", {"line 1", "encoding", "one of scaffold, independent"});
  BOOST_TEST(parse_ok("chat_template: mistral\n").engine.chat_template == "mistral");
  BOOST_TEST(parse_ok("dtype: float32\n").engine.dtype == "float32");
}

BOOST_AUTO_TEST_CASE(malformed_yaml) {
  expect_error("model: m\nsampling: [1, 2\n", {"test.yaml, line 3", "malformed YAML"});
  expect_error("model: m\n device: cpu\n",
               {"line 2, column 8", "malformed YAML", "illegal map value"});
  expect_error("model: m\nsampling:\n  top_k: 1\n top_p: 2\n", {"line 4", "malformed YAML"});
}

BOOST_AUTO_TEST_CASE(duplicate_keys) {
  expect_error("device: cpu\ndtype: auto\ndevice: cuda\n",
               {"line 3, column 1", "device: duplicate key (first set at line 1)"});
  expect_error("sampling:\n  top_k: 1\n  top_k: 2\n", {"line 3", "sampling.top_k: duplicate key"});
  expect_error("cache: {dir: a, dir: b}\n", {"line 1, column 17", "cache.dir: duplicate key"});
}

BOOST_AUTO_TEST_CASE(top_level_must_be_a_map) {
  expect_error("- model\n- device\n",
               {"line 1, column 1", "the top level must be a map", "got a list"});
  expect_error("just words\n", {"line 1", "the top level must be a map", "got a scalar"});
  expect_error("model: m\n---\nmodel: n\n", {"line 3", "a second YAML document"});
  BOOST_TEST(parse_ok("model: m\n---\n").model == "m");
}

BOOST_AUTO_TEST_CASE(load_config_reads_a_file) {
  testing::TempDir dir;
  const std::string path = dir.path + "/config.yaml";
  write_file(path, kFullConfig);
  auto c = load_config(path);
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  BOOST_TEST(c->source == path);
  BOOST_TEST(c->engine.device == "cuda:1");
  BOOST_TEST(c->keys_set.size() == 22u);

  write_file(path, "sampling:\n  top_p: 2\n");
  auto bad = load_config(path);
  BOOST_TEST(bad.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(bad.status().message().find(path + ", line 2, column 3: sampling.top_p") == 0u,
             bad.status().message());

  write_file(path, "");
  auto empty = load_config(path);
  BOOST_REQUIRE(empty.ok());
  BOOST_TEST(empty->keys_set.empty());
}

BOOST_AUTO_TEST_CASE(load_config_errors) {
  testing::TempDir dir;
  auto missing = load_config(dir.path + "/nope.yaml");
  BOOST_TEST(missing.status().code() == StatusCode::kNotFound);
  BOOST_TEST(missing.status().message().find(dir.path + "/nope.yaml") != std::string::npos);
  auto directory = load_config(dir.path);
  BOOST_TEST(directory.status().code() == StatusCode::kIoError);
  BOOST_TEST(directory.status().message().find("is a directory") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(default_config_path_from_pcache_config) {
  EnvGuard env({"PCACHE_CONFIG", "XDG_CONFIG_HOME", "HOME"});
  testing::TempDir dir;
  const std::string path = dir.path + "/mine.yaml";
  write_file(path, "device: cpu\n");
  env.set("PCACHE_CONFIG", path);
  env.set("XDG_CONFIG_HOME", dir.path);
  auto found = default_config_path();
  BOOST_REQUIRE(found.ok());
  BOOST_TEST(*found == path);
  // Asked for by name, so missing is an error.
  env.set("PCACHE_CONFIG", dir.path + "/missing.yaml");
  auto missing = default_config_path();
  BOOST_TEST(missing.status().code() == StatusCode::kNotFound);
  BOOST_TEST(missing.status().message().find(dir.path + "/missing.yaml") != std::string::npos);
  BOOST_TEST(missing.status().message().find("PCACHE_CONFIG") != std::string::npos);
  // Empty counts as unset.
  env.set("PCACHE_CONFIG", "");
  env.set("HOME", dir.path);
  env.unset("XDG_CONFIG_HOME");
  BOOST_TEST(default_config_path().value() == "");
}

BOOST_AUTO_TEST_CASE(default_config_path_from_xdg_and_home) {
  EnvGuard env({"PCACHE_CONFIG", "XDG_CONFIG_HOME", "HOME"});
  env.unset("PCACHE_CONFIG");
  testing::TempDir xdg, home;
  env.set("XDG_CONFIG_HOME", xdg.path);
  env.set("HOME", home.path);
  // Nothing there: no config, not an error.
  BOOST_TEST(default_config_path().value() == "");
  BOOST_REQUIRE(::mkdir((xdg.path + "/pcache").c_str(), 0755) == 0);
  write_file(xdg.path + "/pcache/config.yaml", "");
  BOOST_TEST(default_config_path().value() == xdg.path + "/pcache/config.yaml");

  // Without XDG_CONFIG_HOME (or with a relative one, which the spec says to
  // ignore): ~/.config.
  BOOST_REQUIRE(::mkdir((home.path + "/.config").c_str(), 0755) == 0);
  BOOST_REQUIRE(::mkdir((home.path + "/.config/pcache").c_str(), 0755) == 0);
  env.unset("XDG_CONFIG_HOME");
  BOOST_TEST(default_config_path().value() == "");
  write_file(home.path + "/.config/pcache/config.yaml", "");
  BOOST_TEST(default_config_path().value() == home.path + "/.config/pcache/config.yaml");
  env.set("XDG_CONFIG_HOME", "relative/dir");
  BOOST_TEST(default_config_path().value() == home.path + "/.config/pcache/config.yaml");
  // XDG_CONFIG_HOME chosen but without the file: no fallback to ~/.config.
  env.set("XDG_CONFIG_HOME", xdg.path + "/empty");
  BOOST_TEST(default_config_path().value() == "");
}

BOOST_AUTO_TEST_CASE(example_file_gives_documented_values) {
  EnvGuard env({"HOME"});
  env.set("HOME", "/home/tester");
  auto c = load_config(std::string(PCACHE_SOURCE_DIR) + "/pcache.example.yaml");
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  BOOST_TEST(c->model == "/models/Mistral-7B-Instruct-v0.3");
  BOOST_TEST(c->engine.device == "cuda");
  BOOST_TEST(c->engine.dtype == "auto");
  BOOST_TEST(c->engine.chat_template == "auto");
  BOOST_TEST(c->engine.default_encoding == "scaffold");
  BOOST_TEST(c->engine.prefix_cache == true);
  BOOST_TEST(c->max_states == 8);
  BOOST_TEST(c->engine.cache_dir == "/home/tester/.cache/pcache");
  BOOST_TEST(c->engine.device_cache_bytes == (int64_t{2} << 30));
  BOOST_TEST(c->engine.host_cache_bytes == (int64_t{8} << 30));
  BOOST_TEST(c->engine.max_pinned_share == 0.5);
  BOOST_TEST(c->engine.int8_tiers == false);
  BOOST_TEST(c->sampling.max_tokens == 256);
  BOOST_TEST(c->sampling.temperature == 0.7f);
  BOOST_TEST(c->sampling.top_k == 40);
  BOOST_TEST(c->sampling.top_p == 0.95f);
  BOOST_TEST(c->sampling.seed == 0u);
  BOOST_TEST(c->engine.kv_pool_bytes == 0);
  BOOST_TEST(c->engine.max_batch_tokens == 4096);
  BOOST_TEST(c->engine.max_lone_batch_tokens == 0);
  BOOST_TEST(c->engine.max_running == 256);
  BOOST_TEST(c->engine.max_state_bytes == 0);
  BOOST_TEST(c->server.host == "127.0.0.1");
  BOOST_TEST(c->server.port == 8080);
  BOOST_TEST(c->server.model_name == "mistral-7b-instruct");
  BOOST_TEST(c->server.schemas == std::vector<std::string>{"/home/tester/schemas/restaurants.xml"});
  BOOST_TEST(c->server.api_key_file == "/home/tester/.config/pcache/api_keys");
  BOOST_TEST(c->server.shared_cache == false);
  BOOST_TEST(c->server.state_dir == "/home/tester/.cache/pcache/states");
  BOOST_TEST(c->server.max_body_bytes == (int64_t{4} << 20));
  BOOST_TEST(c->server.max_prompt_tokens == 0);
  BOOST_TEST(c->server.max_tokens_limit == 4096);
  BOOST_TEST(c->server.max_concurrent == 64);
  BOOST_TEST(c->server.max_queue == 64);
  BOOST_TEST(c->server.shutdown_grace_s == 10.0);
  BOOST_TEST(c->server.log_format == "text");
  BOOST_TEST(c->engine.remote == "");
  BOOST_TEST(c->engine.remote_key_prefix == "pcache:");
  BOOST_TEST(c->engine.remote_ttl_seconds == 0);
  BOOST_TEST(c->engine.remote_timeout_ms == 500);
  // The example names every key.
  BOOST_TEST(c->keys_set.size() == 41u);
}

BOOST_AUTO_TEST_CASE(server_section_is_checked_and_applied_under_the_flags) {
  auto c = parse_config("server:\n  port: 9000\n  max_queue: 0\n  schemas: a.xml\n", "s.yaml");
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  ServerOptions server;
  server.max_queue = 5;
  apply_server_config(*c, {"server.max_queue"}, &server);  // the flag gave max_queue
  BOOST_TEST(server.port == 9000);
  BOOST_TEST(server.max_queue == 5);
  BOOST_TEST(server.schemas == std::vector<std::string>{"a.xml"});
  for (const auto& [yaml, message] : std::vector<std::pair<std::string, std::string>>{
           {"server:\n  port: 70000\n", "server.port: must be an integer in [0, 65535]"},
           {"server:\n  log_format: xml\n", "server.log_format: expected one of text, json"},
           {"server:\n  max_body_bytes: 0\n", "server.max_body_bytes: must be at least 1 byte"},
           {"server:\n  prot: 1\n", "did you mean 'port'?"},
           {"port: 1\n", "did you mean 'server.port'?"}}) {
    auto bad = parse_config(yaml, "s.yaml");
    BOOST_REQUIRE(!bad.ok());
    BOOST_TEST(bad.status().message().find(message) != std::string::npos, bad.status().message());
  }
}

BOOST_AUTO_TEST_CASE(remote_tier_keys) {
  auto c = parse_config(
      "cache:\n  remote: redis://cache.internal:6380/1\n  remote_password: pw\n"
      "  remote_key_prefix: \"shop7:\"\n  remote_ttl_seconds: 86400\n  remote_timeout_ms: 250\n",
      "c.yaml");
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  BOOST_TEST(c->engine.remote == "redis://cache.internal:6380/1");
  BOOST_TEST(c->engine.remote_password == "pw");
  BOOST_TEST(c->engine.remote_key_prefix == "shop7:");
  BOOST_TEST(c->engine.remote_ttl_seconds == 86400);
  BOOST_TEST(c->engine.remote_timeout_ms == 250);

  auto bad = parse_config("cache:\n  remote: http://cache.internal\n", "c.yaml");
  BOOST_TEST(bad.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(bad.status().message().find("cache.remote") != std::string::npos,
             bad.status().message());
  BOOST_TEST(bad.status().message().find("line 2") != std::string::npos);
  auto slow = parse_config("cache:\n  remote_timeout_ms: 0\n", "c.yaml");
  BOOST_TEST(slow.status().code() == StatusCode::kInvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
