// WriteBehind: puts values into a ByteTier from a thread of its own, so that
// whoever produced them (a request that encoded a module) never waits for
// the tier. A job's bytes are made on that thread too (by `produce`), so the
// caller pays neither the encoding nor the network.
//
// The queue holds at most max_jobs; a job beyond it is dropped and counted
// (the value is only missing from the tier: a later encode puts it again).
// The destructor runs the jobs still queued, then joins the thread (a tier
// that is down fails each at once, see RemoteTier's back-off).
//
// Thread-safe. Jobs run one at a time, in the order queued.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "cache/byte_tier.h"

namespace pcache {

struct WriteBehindStats {
  int64_t queued = 0;   // jobs accepted
  int64_t written = 0;  // values the tier stored
  int64_t skipped = 0;  // values the tier already held (put not needed)
  int64_t failed = 0;   // jobs whose bytes could not be made or stored
  int64_t dropped = 0;  // jobs refused because the queue was full
};

class WriteBehind {
 public:
  // `tier` must outlive this object.
  WriteBehind(ByteTier& tier, int max_jobs);
  ~WriteBehind();
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  // Queues a put of produce()'s bytes under `key`, unless the tier already
  // holds a value there (ByteTier::size, asked on the thread). Returns false
  // (and counts it) when the queue is full. `produce` runs on the thread; an
  // error it returns counts as a failed job.
  bool enqueue(std::string key, std::function<StatusOr<std::string>()> produce);

  // Waits until every job queued before the call has run.
  void flush();

  WriteBehindStats stats() const;

 private:
  struct Job {
    std::string key;
    std::function<StatusOr<std::string>()> produce;
  };
  void run();

  ByteTier& tier_;
  const int max_jobs_;
  mutable std::mutex mu_;
  std::condition_variable wake_, done_;
  std::deque<Job> jobs_;
  bool running_job_ = false;
  bool stopping_ = false;
  WriteBehindStats stats_;
  std::thread thread_;  // last: started once everything above is set
};

}  // namespace pcache
