// ApiError: a request the server refuses, as OpenAI's clients expect it:
// {"error": {"message", "type", "param", "code"}} with an HTTP status. The
// message names the field at fault; `param` holds its name.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "pcache/status.h"

namespace pcache::server {

struct ApiError {
  int status = 400;
  std::string param;  // the field ("" when none: the body, the whole request)
  std::string message;

  nlohmann::json to_json() const;
};

// The HTTP status of an engine error: InvalidArgument and Unsupported 400,
// NotFound 404, ResourceExhausted 503 (the pool or a budget, not the
// caller's fault), Cancelled 499 (never sent: the client left), others 500.
ApiError from_status(const Status& status, const std::string& param = "");

}  // namespace pcache::server
