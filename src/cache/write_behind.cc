#include "cache/write_behind.h"

#include <utility>

namespace pcache {

WriteBehind::WriteBehind(ByteTier& tier, int max_jobs)
    : tier_(tier), max_jobs_(max_jobs), thread_([this] { run(); }) {}

WriteBehind::~WriteBehind() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool WriteBehind::enqueue(std::string key, std::function<StatusOr<std::string>()> produce) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (static_cast<int>(jobs_.size()) >= max_jobs_) {
      ++stats_.dropped;
      return false;
    }
    jobs_.push_back({std::move(key), std::move(produce)});
    ++stats_.queued;
  }
  wake_.notify_one();
  return true;
}

void WriteBehind::flush() {
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return jobs_.empty() && !running_job_; });
}

WriteBehindStats WriteBehind::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void WriteBehind::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and nothing left
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    running_job_ = true;
    lock.unlock();
    enum { kWritten, kSkipped, kFailed } outcome = kFailed;
    // A tier that cannot be reached is not worth the encoding; a damaged
    // value (Corruption) is replaced.
    const StatusOr<int64_t> present = tier_.size(job.key);
    const StatusCode code = present.status().code();
    if (present.ok()) {
      outcome = kSkipped;
    } else if (code != StatusCode::kNotFound && code != StatusCode::kCorruption) {
      outcome = kFailed;
    } else if (StatusOr<std::string> bytes = job.produce(); bytes.ok()) {
      outcome = tier_.put(job.key, *bytes).ok() ? kWritten : kFailed;
    }
    job.produce = nullptr;  // what it holds (a module's tensors) goes now, not at the next job
    lock.lock();
    running_job_ = false;
    ++(outcome == kWritten ? stats_.written : outcome == kSkipped ? stats_.skipped : stats_.failed);
    done_.notify_all();
  }
}

}  // namespace pcache
