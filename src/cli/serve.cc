// `pcache serve`: opens the engine, starts the HTTP server (src/server) and
// stops it on SIGTERM or SIGINT within the grace period, exiting 0.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "cli/common.h"
#include "pcache/default_model.h"
#include "server/server.h"

namespace pcache::cli {
namespace {

int stop_pipe[2] = {-1, -1};  // written by the signal handler

}  // namespace

int run_serve(CommonOptions& common, ServerOptions options) {
  if (!options.api_key_file.empty()) {
    auto keys = read_lines(options.api_key_file, "--api-key-file");
    if (!keys.ok()) return report(keys.status());
    options.api_keys.insert(options.api_keys.end(), keys->begin(), keys->end());
  }
  if (const char* key = std::getenv("PCACHE_API_KEY"); key && *key) options.api_keys.push_back(key);
  for (const auto& key : options.api_keys) {
    if (key.empty()) return report(Status::invalid_argument("an API key must not be empty"));
  }
  // Each isolated key gets its share of the engine's saved states.
  if (options.api_keys.size() > 1 && !options.shared_cache) {
    options.max_states_per_key =
        std::max(1, common.engine.max_states / static_cast<int>(options.api_keys.size()));
  }
  // The engine runs at most as many requests as the server admits to run.
  common.engine.max_running = std::min(common.engine.max_running, options.max_concurrent);

  signal(SIGPIPE, SIG_IGN);  // a client that leaves is a failed write, not the end of the server
  // SIGTERM and SIGINT write a byte to a pipe that a thread of ours reads:
  // libraries start threads of their own before main (OpenBLAS), so the
  // signals cannot be kept for one thread by masks alone.
  if (::pipe(stop_pipe) != 0) return report(Status::io_error("pipe: cannot create the signal pipe"));
  struct sigaction on_stop {};
  on_stop.sa_handler = [](int) {
    const char byte = 1;
    (void)!::write(stop_pipe[1], &byte, 1);
  };
  sigemptyset(&on_stop.sa_mask);
  sigaction(SIGTERM, &on_stop, nullptr);
  sigaction(SIGINT, &on_stop, nullptr);

  auto engine = common.open_engine();
  if (!engine.ok()) return report(engine.status());
  std::string model_dir = common.model_dir;
  if (model_dir.empty()) {
    auto dir = default_model_dir();
    if (dir.ok()) model_dir = *dir;
  }
  const std::string name = std::filesystem::path(model_dir).lexically_normal().filename().string();
  server::Server server(**engine, options, name.empty() ? "pcache" : name, common.sampling);
  if (Status s = server.load_schemas(); !s.ok()) return report(s);
  if (Status s = server.bind(); !s.ok()) return report(s);

  std::thread signals([&] {
    char byte = 0;
    while (::read(stop_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    server.shutdown();
  });
  server.serve();
  // serve() returns once shutdown() stopped the listener; if it returned
  // for another reason, wake the signal thread ourselves.
  const char byte = 1;
  (void)!::write(stop_pipe[1], &byte, 1);
  signals.join();
  return 0;
}

}  // namespace pcache::cli
