// RequestLog: one line per request on stderr (id, method, path, status,
// tenant, prompt / cached / generated tokens, time to first token, total
// time, and the error when there was one), as text or as JSON.
//
// Thread-safe: lines never interleave.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>

#include "server/request_record.h"

namespace pcache::server {

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
