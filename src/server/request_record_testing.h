// The record of a request served well, which the log and metrics tests both
// start from.
#pragma once

#include "server/request_record.h"

namespace pcache::server::testing {

inline RequestRecord served_request() {
  RequestRecord r;
  r.id = "req-7";
  r.method = "POST";
  r.path = r.endpoint = "/v1/completions";
  r.tenant = "shared";
  r.prompt_tokens = 12;
  r.cached_tokens = 8;
  r.generated_tokens = 3;
  r.ttft_ms = 20.5;
  r.time_per_token_ms = 4;
  r.total_ms = 30;
  return r;
}

}  // namespace pcache::server::testing
