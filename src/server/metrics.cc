#include "server/metrics.h"

#include <cstdio>

namespace pcache::server {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

void metric(std::string& out, const char* type, const std::string& name, const char* help,
            const std::vector<std::pair<std::string, double>>& samples) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  for (const auto& [labels, value] : samples) out += name + labels + " " + number(value) + "\n";
}

void one(std::string& out, const char* type, const std::string& name, const char* help, double v) {
  metric(out, type, name, help, {{"", v}});
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double seconds) {
  size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += seconds;
  ++count_;
}

void Histogram::render(const std::string& name, std::string& out) const {
  int64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum " + number(sum_) + "\n" + name + "_count " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : ttft_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      time_per_token_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}),
      duration_({0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}) {}

void Metrics::record(const RequestRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{r.endpoint, r.status}];
  prompt_tokens_ += r.prompt_tokens;
  cached_tokens_ += r.cached_tokens;
  generated_tokens_ += r.generated_tokens;
  cancelled_ += r.cancelled;
  if (r.ttft_ms >= 0) ttft_.observe(r.ttft_ms / 1000);
  if (r.time_per_token_ms >= 0) time_per_token_.observe(r.time_per_token_ms / 1000);
  duration_.observe(r.total_ms / 1000);
}

std::string Metrics::render(const EngineGauges& g) const {
  std::string out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::pair<std::string, double>> requests;
    for (const auto& [key, n] : requests_) {
      requests.push_back({"{endpoint=\"" + key.first + "\",status=\"" +
                              std::to_string(key.second) + "\"}",
                          static_cast<double>(n)});
    }
    metric(out, "counter", "pcache_requests_total", "HTTP requests answered, by endpoint and status.",
           requests);
    one(out, "counter", "pcache_prompt_tokens_total", "Prompt tokens of generation requests.",
        prompt_tokens_);
    one(out, "counter", "pcache_cached_tokens_total",
        "Prompt tokens taken from modules, prefixes or states instead of computed.", cached_tokens_);
    one(out, "counter", "pcache_generated_tokens_total", "Tokens generated.", generated_tokens_);
    one(out, "counter", "pcache_cancelled_requests_total",
        "Generations stopped because the client left or the server shut down.", cancelled_);
    out += "# HELP pcache_time_to_first_token_seconds From the request to its first token.\n"
           "# TYPE pcache_time_to_first_token_seconds histogram\n";
    ttft_.render("pcache_time_to_first_token_seconds", out);
    out += "# HELP pcache_time_per_output_token_seconds Decode time per token after the first.\n"
           "# TYPE pcache_time_per_output_token_seconds histogram\n";
    time_per_token_.render("pcache_time_per_output_token_seconds", out);
    out += "# HELP pcache_request_duration_seconds From the request to its last byte.\n"
           "# TYPE pcache_request_duration_seconds histogram\n";
    duration_.render("pcache_request_duration_seconds", out);
  }
  const ServingStats& s = g.serving;
  one(out, "gauge", "pcache_requests_in_flight", "Requests admitted and not finished.", g.in_flight);
  one(out, "gauge", "pcache_queue_length", "Requests waiting for the scheduler.", s.waiting);
  one(out, "gauge", "pcache_running_sequences", "Sequences in the scheduler's batch.", s.running);
  metric(out, "gauge", "pcache_kv_blocks", "KV pool blocks by state.",
         {{"{state=\"total\"}", double(s.blocks)},
          {"{state=\"in_use\"}", double(s.blocks_in_use)},
          {"{state=\"cached\"}", double(s.blocks_cached)}});
  one(out, "gauge", "pcache_kv_pool_usage_ratio", "Share of KV pool blocks in use.",
      s.blocks > 0 ? double(s.blocks_in_use) / s.blocks : 0);
  one(out, "counter", "pcache_kv_block_hits_total", "KV blocks reused by name (prefixes, modules).",
      s.block_hits);
  one(out, "counter", "pcache_kv_block_evictions_total", "Cached KV blocks given new contents.",
      s.block_evictions);
  one(out, "counter", "pcache_preemptions_total", "Requests recomputed for want of blocks.",
      s.preemptions);
  one(out, "counter", "pcache_scheduler_steps_total", "Forward passes run.", s.steps);
  one(out, "counter", "pcache_scheduler_overlapped_steps_total",
      "Decode steps queued before the previous step's tokens were read.", s.overlapped_steps);
  const CacheStats& c = g.cache;
  metric(out, "counter", "pcache_module_store_hits_total", "Module store hits by tier.",
         {{"{tier=\"device\"}", double(c.device_hits)},
          {"{tier=\"host\"}", double(c.host_hits)},
          {"{tier=\"disk\"}", double(c.disk_hits)},
          {"{tier=\"remote\"}", double(c.remote_hits)}});
  one(out, "counter", "pcache_module_store_misses_total", "Module store misses.", c.misses);
  metric(out, "counter", "pcache_module_store_evictions_total", "Module store evictions by destination.",
         {{"{to=\"host\"}", double(c.evictions_to_host)},
          {"{to=\"disk\"}", double(c.evictions_to_disk)},
          {"{to=\"dropped\"}", double(c.evictions_dropped)}});
  one(out, "counter", "pcache_remote_rejected_total",
      "Remote tier values rejected (damaged, cut, another model's): removed and encoded again.",
      c.remote_corrupt);
  one(out, "counter", "pcache_remote_errors_total",
      "Remote tier reads that failed (Redis unreachable, late or refusing).", c.remote_errors);
  metric(out, "counter", "pcache_remote_writes_total", "Remote tier writes behind, by result.",
         {{"{result=\"stored\"}", double(c.remote_writes)},
          {"{result=\"failed\"}", double(c.remote_write_failures)},
          {"{result=\"dropped\"}", double(c.remote_writes_dropped)}});
  one(out, "counter", "pcache_remote_outages_total", "Times Redis stopped answering.", c.remote_outages);
  one(out, "gauge", "pcache_saved_states", "Live saved states.", g.states);
  return out;
}

}  // namespace pcache::server
