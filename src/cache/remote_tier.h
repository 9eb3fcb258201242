// RemoteTier: a ByteTier on a Redis server that several engines (replicas)
// share, so that a module one of them encoded, or a state one of them saved,
// serves them all. Values are split into chunks and published by a manifest
// written last (format: remote_format.h, docs/formats.md "Remote tier").
//
// Faults never reach the caller as anything but an error Status: when Redis
// is unreachable, answers later than the timeout or was restarted, the call
// fails with IoError, the outage is counted and warned about once (until a
// call succeeds again), and calls fail at once without touching the network
// until a back-off (doubling from backoff_initial_ms up to backoff_max_ms)
// has passed, when the next call tries again with a new connection. A full
// Redis (an OOM error reply) fails puts with ResourceExhausted, warned about
// once per episode. A damaged value is removed and reported as Corruption.
//
// Thread-safe. Connections are made on demand, one per call in flight, and
// kept for reuse; nothing is sent before the first call.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "cache/byte_tier.h"
#include "cache/redis_client.h"
#include "cache/remote_format.h"
#include "cache/remote_manifest.h"

namespace pcache {

struct RemoteTierOptions {
  RedisEndpoint endpoint;
  std::string key_prefix = "pcache:";  // before every key, so that Redis can be shared
  int64_t ttl_seconds = 0;             // expiry of every value; 0: none (Redis's eviction only)
  int timeout_ms = 500;                // for connecting and for every reply
  int64_t chunk_bytes = remote_format::kDefaultChunkBytes;
  int backoff_initial_ms = 100;  // after a failure, no call tries again before this...
  int backoff_max_ms = 10000;    // ... doubling on each failure up to this
  // Where the once-per-episode warnings go; null: stderr, "pcache: " first.
  std::function<void(const std::string&)> warn;
};

struct RemoteTierStats {
  int64_t hits = 0, misses = 0;       // get(): a value returned / none there
  int64_t puts = 0, put_failures = 0;  // put(): stored / not stored (any error)
  int64_t corrupt = 0;                // values found damaged or incomplete, removed
  int64_t errors = 0;    // calls that reached for Redis and failed: unreachable, late, refused, full
  int64_t skipped = 0;   // calls failed at once during a back-off
  int64_t outages = 0;   // times Redis went from answering to not answering
  int64_t full = 0;      // times Redis went from taking writes to refusing them (OOM)
  int64_t bytes_read = 0, bytes_written = 0;  // values' bytes
};

class RemoteTier final : public ByteTier {
 public:
  // InvalidArgument for options out of range (chunk_bytes < 1 or > 512 MiB, negative
  // times). Does not connect.
  static StatusOr<std::unique_ptr<RemoteTier>> create(RemoteTierOptions options);
  ~RemoteTier() override;

  StatusOr<TierValue> get(const std::string& key) override;
  StatusOr<int64_t> size(const std::string& key) override;
  Status put(const std::string& key, std::string_view value) override;
  Status erase(const std::string& key) override;

  RemoteTierStats stats() const;
  // "redis://HOST:PORT/DB" (no password), for messages.
  std::string describe() const { return options_.endpoint.to_string(); }

 private:
  using Clock = std::chrono::steady_clock;
  explicit RemoteTier(RemoteTierOptions options);

  // Runs fn on a connection (an idle one, or a new one), handling outages:
  // fails at once during a back-off; a failure to connect or a broken
  // connection starts or prolongs an outage; a call that gets through ends one.
  Status with_connection(const std::function<Status(RedisConnection&)>& fn);
  // The manifest under `full_key` (NotFound, Corruption).
  StatusOr<RemoteManifest> read_manifest(RedisConnection& c, const std::string& full_key);
  // Unlinks the chunks a manifest (in its stored form) names; nothing for bytes that are not one.
  Status unlink_chunks(RedisConnection& c, const std::string& full_key, std::string_view manifest);
  void warn(const std::string& message) const;
  void note_full(bool full);

  const RemoteTierOptions options_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<RedisConnection>> idle_;
  bool down_ = false;           // in an outage
  bool full_ = false;           // in a run of refused writes
  int backoff_ms_ = 0;          // the current back-off; 0 while Redis answers
  Clock::time_point retry_at_;  // no call before this during an outage
  std::mt19937_64 generations_;
  RemoteTierStats stats_;
};

}  // namespace pcache
