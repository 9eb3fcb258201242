// RequestLog: one line per request on stderr (id, method, path, status,
// tenant, prompt / cached / generated tokens, time to first token, total
// time, and the error when there was one), as text or as JSON.
//
// Thread-safe: lines never interleave.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>

namespace pcache::server {

struct RequestRecord {
  std::string id;  // "req-12"
  std::string method, path;
  int status = 200;
  std::string tenant;
  int prompt_tokens = 0, cached_tokens = 0, generated_tokens = 0;
  double ttft_ms = -1;  // < 0: no token
  double total_ms = 0;
  bool cancelled = false;
  std::string error;
};

enum class LogFormat { kText, kJson };

// One line, without its newline.
std::string format_record(const RequestRecord& r, LogFormat format);

class RequestLog {
 public:
  RequestLog(LogFormat format, std::FILE* out) : format_(format), out_(out) {}
  void write(const RequestRecord& r);
  // A line that is not a request's (start-up, schemas, shutdown), as text or
  // as {"event": ...} in JSON.
  void event(const std::string& message);

 private:
  const LogFormat format_;
  std::FILE* const out_;
  std::mutex mu_;
};

}  // namespace pcache::server
