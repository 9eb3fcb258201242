#include "server/api_error.h"

namespace pcache::server {
namespace {

const char* type_of(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: return "server_overloaded";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace

nlohmann::json ApiError::to_json() const {
  return {{"error",
           {{"message", message},
            {"type", type_of(status)},
            {"param", param.empty() ? nlohmann::json() : nlohmann::json(param)},
            {"code", nlohmann::json()}}}};
}

ApiError from_status(const Status& status, const std::string& param) {
  int code = 500;
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kUnsupported:
    case StatusCode::kFailedPrecondition: code = 400; break;
    case StatusCode::kNotFound: code = 404; break;
    case StatusCode::kResourceExhausted: code = 503; break;
    case StatusCode::kCancelled: code = 499; break;
    default: break;
  }
  return {code, param, status.message()};
}

}  // namespace pcache::server
