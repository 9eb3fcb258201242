// The YAML configuration file: defaults for the engine, the sessions and
// sampling, so that the command line need not repeat them. Every key is
// documented in docs/configuration.md and pcache.example.yaml.
//
// Contract
// - Errors are InvalidArgument naming the file, the key as a dotted path
//   ("sampling.top_p") and its position ("line 12, column 3", 1-based):
//   unknown keys (with the valid ones and a suggestion), wrong types, values
//   out of range or not among the allowed words, malformed YAML, duplicate keys.
// - An empty file (or one of comments only) gives all the defaults.
// - Values are checked here as far as they can be without a model or a
//   device; the engine checks the rest (e.g. whether cuda:3 exists).
// - Never throws (yaml-cpp's exceptions are caught).
#pragma once

#include <set>
#include <string>

#include "pcache/engine_options.h"
#include "pcache/generation.h"
#include "pcache/server_options.h"
#include "pcache/status.h"

namespace pcache {

struct Config {
  std::string model;         // model folder ("" = none given)
  EngineOptions engine;      // device, dtype, chat_template, cache_dir, device_cache_bytes,
                             // host_cache_bytes, max_pinned_share, int8_tiers,
                             // default_encoding, prefix_cache, max_states, kv_pool_bytes,
                             // max_batch_tokens, max_lone_batch_tokens, max_running
  int max_states = 8;        // live saved states (sessions); engine.max_states holds the same
  SamplingOptions sampling;  // max_tokens, temperature, top_k, top_p, seed
  ServerOptions server;      // the server: section (pcache serve)
  std::string source;        // file it came from ("" = defaults)
  // Which keys the file set, as dotted paths ("cache.dir", "sampling.top_p"),
  // so that a command-line flag overrides only what the user gave and file
  // values fill the rest. Sections ("cache") are not listed, only their keys.
  std::set<std::string> keys_set;

  bool has(const std::string& key) const { return keys_set.count(key) != 0; }
};

// Sets `*model`, `*engine` and `*sampling` from every key the file set,
// except the keys in `given` (dotted, as Config::keys_set): those the command
// line gave, which win over the file. Every key parse_config reads is applied
// here, so that no setting of the file is read and then dropped.
void apply_config(const Config& config, const std::set<std::string>& given, std::string* model,
                  EngineOptions* engine, SamplingOptions* sampling);

// Sets `*server` from every server.* key the file set, except those in `given`.
void apply_server_config(const Config& config, const std::set<std::string>& given,
                         ServerOptions* server);

// Parses YAML text; `file_name` labels errors and becomes Config::source.
StatusOr<Config> parse_config(const std::string& yaml_text, const std::string& file_name);

// Configuration files are read up to this size (a full one is about 2 KB).
inline constexpr size_t kMaxConfigFileBytes = 1u << 20;

// Reads and parses a file. NotFound when it does not exist, IoError when it
// cannot be read (or is not a regular file), InvalidArgument when it is over
// kMaxConfigFileBytes, else as parse_config.
StatusOr<Config> load_config(const std::string& path);

// The default location: $PCACHE_CONFIG if set (and not empty), else
// $XDG_CONFIG_HOME/pcache/config.yaml (when that is an absolute path), else
// ~/.config/pcache/config.yaml. Returns "" when the chosen file does not exist
// (no config is fine) -- except that a $PCACHE_CONFIG naming a missing file is
// an error (NotFound) because the user asked for it.
StatusOr<std::string> default_config_path();

// "~" and "~/..." become $HOME (or the account's home directory), "~user/..."
// that user's home; anything else is returned unchanged. InvalidArgument when
// the home directory cannot be found.
StatusOr<std::string> expand_home(const std::string& path);

}  // namespace pcache
