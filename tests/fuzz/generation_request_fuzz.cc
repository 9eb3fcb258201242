// Fuzz target: the body of a chat or text completion request (pcache serve),
// read for both endpoints; a stop matcher then sees the prompt in pieces.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "server/generation_request.h"
#include "util/stop_matcher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  pcache::server::RequestLimits limits;
  for (auto endpoint : {pcache::server::Endpoint::kChat, pcache::server::Endpoint::kCompletion}) {
    auto r = pcache::server::parse_generation_request(body, endpoint, limits);
    if (auto* request = std::get_if<pcache::server::GenerationRequest>(&r)) {
      pcache::StopMatcher stops(request->stop);
      for (size_t i = 0; i < request->prompt.size(); i += 3) (void)stops.push(request->prompt.substr(i, 3));
      (void)stops.flush();
    } else {
      // As the server writes it: a message may quote invalid UTF-8 from the body.
      (void)std::get<pcache::server::ApiError>(r).to_json().dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
  return 0;
}
