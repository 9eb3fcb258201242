// Server: `pcache serve`, an OpenAI-compatible HTTP front end over one
// Engine (docs/server.md): chat and text completions (streamed as
// server-sent events or not), PML prompts from the module cache, saved
// states, schemas, health, models and Prometheus metrics.
//
// Contract
// - Uses only the engine's public API; every request runs through the
//   engine's one scheduler, so requests are batched together.
// - Every malformed, mistyped, out-of-range or unsupported input gets a 4xx
//   naming the field; past the limits of ServerOptions a request gets 413 or
//   429 (with Retry-After) at once. No input stalls other requests.
// - A streamed request whose client leaves is cancelled at its next token
//   and its blocks go back to the pool.
// - Threads: serve() blocks the calling thread; shutdown() may be called
//   from any other thread (the signal thread of `pcache serve`).
#pragma once

#include <memory>
#include <string>

#include "pcache/engine.h"
#include "pcache/server_options.h"
#include "pcache/status.h"

namespace pcache::server {

class Server {
 public:
  // `engine` must outlive the server. `model_name` is what /v1/models lists
  // (options.model_name when set); `defaults` fill the sampling options a
  // request leaves out.
  Server(Engine& engine, const ServerOptions& options, const std::string& model_name,
         const SamplingOptions& defaults);
  // Stops serving if needed and waits for every generation to end.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers and compiles options.schemas (files, or folders of *.xml),
  // logging each module. Errors name the file.
  Status load_schemas();
  // Binds host:port (port 0: a free port). IoError when the address is taken.
  Status bind();
  int port() const;
  // Serves until shutdown(); returns once every connection has ended.
  void serve();
  // Stops accepting; requests in flight may finish for shutdown_grace_s,
  // then the rest are cancelled. Returns when no generation is left.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pcache::server
