// Metrics: the server's counters and latency histograms, and the Prometheus
// text (version 0.0.4) of GET /metrics, which adds the engine's gauges (KV
// pool, scheduler, module store) read at that moment.
//
// Thread-safe: requests record from their threads; render() reads under the
// same lock.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "pcache/cache_stats.h"
#include "pcache/serving_stats.h"
#include "server/request_record.h"

namespace pcache::server {

// Cumulative buckets of a Prometheus histogram (upper bounds in seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double seconds);
  // "name_bucket{le=...} n" lines, then _sum and _count.
  void render(const std::string& name, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0;
  int64_t count_ = 0;
};

// Engine values read when /metrics is asked for.
struct EngineGauges {
  ServingStats serving;
  CacheStats cache;
  int64_t states = 0;
  int64_t in_flight = 0;  // requests the server holds (admission)
};

class Metrics {
 public:
  Metrics();
  // Counts a finished request under its endpoint (the route) and status.
  void record(const RequestRecord& r);
  std::string render(const EngineGauges& g) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;  // (endpoint, status)
  int64_t prompt_tokens_ = 0, cached_tokens_ = 0, generated_tokens_ = 0, cancelled_ = 0;
  Histogram ttft_, time_per_token_, duration_;
};

}  // namespace pcache::server
