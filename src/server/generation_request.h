// GenerationRequest: the body of POST /v1/chat/completions or
// /v1/completions, read and checked. Every field is typed and range-checked
// here, so that the engine only ever sees valid options; a parameter the
// server does not support is refused by name, never ignored.
//
// Besides OpenAI's fields: "pml" (a PML prompt instead of messages or
// prompt), "encoding" (with pml: "independent" or "scaffold"), "state" (continue a saved state),
// "save_state" (chat: keep the state after the answer), "top_k" and "ignore_eos" (as vLLM).
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "pcache/generation.h"
#include "pcache/tokenizer.h"
#include "server/api_error.h"

namespace pcache::server {

enum class Endpoint { kChat, kCompletion };

struct GenerationRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;                  // "" when not given
  std::vector<ChatMessage> messages;  // chat
  std::string prompt;                 // completion (text)
  std::vector<int> prompt_ids;        // completion given as token ids
  std::string pml;                    // a PML prompt instead
  ModuleEncoding encoding = ModuleEncoding::kSchema;  // pml: "encoding"
  std::string state;                  // "" or the id of a state to continue
  bool save_state = false;            // chat: return the state after the answer
  SamplingOptions sampling;
  int n = 1;  // answers (choices), sharing the prompt's prefill; choice i samples with seed + i
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// Defaults and bounds the request is checked against.
struct RequestLimits {
  SamplingOptions defaults;  // max_tokens, temperature, top_k, top_p, seed when not given
  int max_tokens_limit = 4096;
  int max_n = 1;  // "n" at most
};

// The request, or a 400 naming the field (malformed JSON, a wrong type, a
// value out of range, an unknown or unsupported parameter, a missing or
// conflicting one).
std::variant<GenerationRequest, ApiError> parse_generation_request(const std::string& body,
                                                                   Endpoint endpoint,
                                                                   const RequestLimits& limits);

// A "messages" array: roles system (or developer), user and assistant, and
// text content; or a 400 naming the message and field at fault.
std::variant<std::vector<ChatMessage>, ApiError> read_messages(const nlohmann::json& value);

// The body as a JSON object, or a 400 that says why not.
std::variant<nlohmann::json, ApiError> parse_object(const std::string& body);

}  // namespace pcache::server
