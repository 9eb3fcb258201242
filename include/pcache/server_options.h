// ServerOptions: how `pcache serve` listens, whom it lets in and how much it
// takes at once (docs/server.md). Plain values, filled from the command line
// and the `server:` section of the configuration file; no libtorch types.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pcache {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless asked: the API has no TLS
  int port = 8080;                 // 0: any free port (the server says which)
  // The name /v1/models lists and responses carry ("" = the model folder's name).
  std::string model_name;
  // Schema files or folders of *.xml, registered and compiled at start.
  std::vector<std::string> schemas;

  // Keys a request may give as "Authorization: Bearer KEY"; none: no check.
  std::vector<std::string> api_keys;
  std::string api_key_file;  // more keys, one a line, read at start
  // With keys, each key's requests reuse only their own prefixes and see only
  // their own states, unless the cache is shared (CVE-2025-46570).
  bool shared_cache = false;
  // Folder of saved-state snapshots (save/load by name); "" = no save/load.
  std::string state_dir;
  // Saved states one key holds at most when keys are isolated: beyond, its
  // own least recently used go, so that no key's states push another's out
  // of the engine's max_states. 0: no limit. `pcache serve` sets it to
  // max_states / the number of keys.
  int max_states_per_key = 0;

  // Limits: past them a request gets 413 (body), 400 (prompt, max_tokens) or
  // 429 with Retry-After (concurrency), never a stall of the others.
  int64_t max_body_bytes = 4 << 20;
  int max_prompt_tokens = 0;    // 0: the model's context
  int max_tokens_limit = 4096;  // largest max_tokens a request may ask for
  int max_concurrent = 64;      // requests generating at once
  int max_queue = 64;           // requests waiting for one of those beyond that
  int retry_after_s = 1;

  double shutdown_grace_s = 10;  // SIGTERM: in-flight requests may finish this long
  std::string log_format = "text";  // one line per request: "text" or "json"
};

}  // namespace pcache
