// RequestRecord: what one finished request did, as the request log writes
// it (request_log.h) and the metrics count it (metrics.h): one record, filled
// once per request, for both.
#pragma once

#include <string>

namespace pcache::server {

struct RequestRecord {
  std::string id;  // "req-12"
  std::string method, path;
  std::string endpoint;  // the route, the metrics' label: "/v1/states/{id}" for any id
  int status = 200;
  std::string tenant;
  int prompt_tokens = 0, cached_tokens = 0, generated_tokens = 0;
  double ttft_ms = -1;            // < 0: no token
  double time_per_token_ms = -1;  // < 0: fewer than two tokens
  double total_ms = 0;
  bool cancelled = false;  // the client left, or shutdown cut it short
  std::string error;
};

}  // namespace pcache::server
