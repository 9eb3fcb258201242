#include "server/request_log.h"

#include <nlohmann/json.hpp>

namespace pcache::server {

std::string format_record(const RequestRecord& r, LogFormat format) {
  if (format == LogFormat::kJson) {
    nlohmann::json j = {{"id", r.id},
                        {"method", r.method},
                        {"path", r.path},
                        {"status", r.status},
                        {"tenant", r.tenant},
                        {"prompt_tokens", r.prompt_tokens},
                        {"cached_tokens", r.cached_tokens},
                        {"generated_tokens", r.generated_tokens},
                        {"ttft_ms", r.ttft_ms < 0 ? nlohmann::json() : nlohmann::json(r.ttft_ms)},
                        {"total_ms", r.total_ms},
                        {"cancelled", r.cancelled}};
    if (!r.error.empty()) j["error"] = r.error;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  char times[96];
  if (r.ttft_ms >= 0) {
    std::snprintf(times, sizeof times, "ttft %.1f ms total %.1f ms", r.ttft_ms, r.total_ms);
  } else {
    std::snprintf(times, sizeof times, "total %.1f ms", r.total_ms);
  }
  std::string line = r.id + " " + r.method + " " + r.path + " " + std::to_string(r.status) + " " +
                     r.tenant + " prompt " + std::to_string(r.prompt_tokens) + " cached " +
                     std::to_string(r.cached_tokens) + " generated " +
                     std::to_string(r.generated_tokens) + " " + times;
  if (r.cancelled) line += " cancelled";
  if (!r.error.empty()) line += " error: " + r.error;
  return line;
}

void RequestLog::write(const RequestRecord& r) {
  const std::string line = format_record(r, format_) + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

void RequestLog::event(const std::string& message) {
  const std::string line =
      (format_ == LogFormat::kJson
           ? nlohmann::json({{"event", message}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
           : "pcache serve: " + message) +
      "\n";
  std::lock_guard<std::mutex> lock(mu_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace pcache::server
