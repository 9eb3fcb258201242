#include "server/generation_request.h"

#include <cmath>
#include <limits>
#include <set>

namespace pcache::server {
namespace {

using nlohmann::json;

// Thrown by the readers below and caught in parse_generation_request: the
// first field at fault ends the reading.
struct Refused {
  ApiError error;
};

[[noreturn]] void refuse(const std::string& param, const std::string& message) {
  throw Refused{{400, param, param + ": " + message}};
}

const char* json_type(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_float: return "a number";
    default: return "an integer";
  }
}

std::string string_field(const json& v, const std::string& name) {
  if (!v.is_string()) refuse(name, std::string("expected a string, got ") + json_type(v));
  return v.get<std::string>();
}

bool bool_field(const json& v, const std::string& name) {
  if (!v.is_boolean()) refuse(name, std::string("expected true or false, got ") + json_type(v));
  return v.get<bool>();
}

double number_field(const json& v, const std::string& name, double lo, double hi) {
  if (!v.is_number()) refuse(name, std::string("expected a number, got ") + json_type(v));
  const double d = v.get<double>();
  if (!(d >= lo && d <= hi)) {
    refuse(name, "must be in [" + json(lo).dump() + ", " + json(hi).dump() + "], got " + v.dump());
  }
  return d;
}

int64_t integer_field(const json& v, const std::string& name, int64_t lo, int64_t hi) {
  if (!v.is_number_integer() && !v.is_number_unsigned()) {
    refuse(name, std::string("expected an integer, got ") + json_type(v) +
                     (v.is_number() ? " (" + v.dump() + ")" : ""));
  }
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) {
    refuse(name, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v.dump());
  }
  const int64_t i = v.get<int64_t>();
  if (i < lo || i > hi) {
    refuse(name, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v.dump());
  }
  return i;
}

// OpenAI's content: a string, or an array of {"type": "text", "text": ...}.
std::string content_field(const json& v, const std::string& name) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_array()) refuse(name, std::string("expected a string or an array of text parts, got ") + json_type(v));
  std::string text;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string part = name + "[" + std::to_string(i) + "]";
    if (!v[i].is_object()) refuse(part, std::string("expected an object, got ") + json_type(v[i]));
    const auto type = v[i].find("type");
    if (type == v[i].end() || !type->is_string() || *type != "text") {
      refuse(part + ".type", "only \"text\" parts are supported");
    }
    const auto t = v[i].find("text");
    if (t == v[i].end()) refuse(part + ".text", "missing");
    text += string_field(*t, part + ".text");
  }
  return text;
}

std::vector<ChatMessage> messages_field(const json& v) {
  if (!v.is_array()) refuse("messages", std::string("expected an array, got ") + json_type(v));
  if (v.empty()) refuse("messages", "must not be empty");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string name = "messages[" + std::to_string(i) + "]";
    if (!v[i].is_object()) refuse(name, std::string("expected an object, got ") + json_type(v[i]));
    ChatMessage m;
    bool has_role = false, has_content = false;
    for (const auto& [key, value] : v[i].items()) {
      if (key == "role") {
        m.role = string_field(value, name + ".role");
        if (m.role == "developer") m.role = "system";  // OpenAI's newer name for it
        if (m.role != "system" && m.role != "user" && m.role != "assistant") {
          refuse(name + ".role", "expected system, user or assistant, got \"" + m.role + "\"");
        }
        has_role = true;
      } else if (key == "content") {
        m.content = content_field(value, name + ".content");
        has_content = true;
      } else if (key == "name") {
        string_field(value, name + ".name");  // a label of the speaker: not part of the prompt
      } else {
        refuse(name + "." + key, "unsupported");
      }
    }
    if (!has_role) refuse(name + ".role", "missing");
    if (!has_content) refuse(name + ".content", "missing");
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<std::string> stop_field(const json& v) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    if (v.size() > 4) refuse("stop", "at most 4 strings, got " + std::to_string(v.size()));
    for (size_t i = 0; i < v.size(); ++i) out.push_back(string_field(v[i], "stop[" + std::to_string(i) + "]"));
  } else {
    refuse("stop", std::string("expected a string or an array of strings, got ") + json_type(v));
  }
  for (const auto& s : out)
    if (s.empty()) refuse("stop", "stop strings must not be empty");
  return out;
}

void prompt_field(const json& v, GenerationRequest& r) {
  if (v.is_string()) {
    r.prompt = v.get<std::string>();
    return;
  }
  if (v.is_array() && v.size() == 1 && v[0].is_string()) {
    r.prompt = v[0].get<std::string>();
    return;
  }
  if (v.is_array() && !v.empty() && v[0].is_number()) {
    for (size_t i = 0; i < v.size(); ++i) {
      r.prompt_ids.push_back(static_cast<int>(integer_field(
          v[i], "prompt[" + std::to_string(i) + "]", 0, std::numeric_limits<int>::max())));
    }
    return;
  }
  if (v.is_array() && v.size() > 1) refuse("prompt", "one prompt per request is supported, got " + std::to_string(v.size()));
  refuse("prompt", std::string("expected a string, or an array of token ids, got ") + json_type(v));
}

// Accepted only at the value that means "off": anything else asks for a
// feature the server does not have.
void only_off(const json& v, const std::string& name, const json& off) {
  if (v.is_null() || v == off) return;
  refuse(name, "not supported (only " + off.dump() + ")");
}

GenerationRequest read(const json& body, Endpoint endpoint, const RequestLimits& limits) {
  GenerationRequest r;
  r.endpoint = endpoint;
  r.sampling = limits.defaults;
  r.sampling.max_tokens = std::min(r.sampling.max_tokens, limits.max_tokens_limit);
  const bool chat = endpoint == Endpoint::kChat;
  bool has_messages = false, has_prompt = false, has_max_tokens = false;
  for (const auto& [key, v] : body.items()) {
    if (key == "model") {
      r.model = string_field(v, key);
    } else if (chat && key == "messages") {
      r.messages = messages_field(v);
      has_messages = true;
    } else if (!chat && key == "prompt") {
      prompt_field(v, r);
      has_prompt = true;
    } else if (key == "pml") {
      r.pml = string_field(v, key);
      if (r.pml.empty()) refuse(key, "must not be empty");
    } else if (key == "encoding") {
      const std::string mode = string_field(v, key);
      if (mode == "independent") {
        r.encoding = ModuleEncoding::kIndependent;
      } else if (mode == "scaffold") {
        r.encoding = ModuleEncoding::kScaffold;
      } else {
        refuse(key, "expected \"independent\" or \"scaffold\", got " + v.dump());
      }
    } else if (key == "state") {
      r.state = string_field(v, key);
    } else if (chat && key == "save_state") {
      r.save_state = bool_field(v, key);
    } else if (key == "max_tokens" || (chat && key == "max_completion_tokens")) {
      if (v.is_null()) continue;
      if (has_max_tokens) refuse(key, "give max_tokens or max_completion_tokens, not both");
      r.sampling.max_tokens = static_cast<int>(integer_field(v, key, 1, limits.max_tokens_limit));
      has_max_tokens = true;
    } else if (key == "temperature") {
      if (!v.is_null()) r.sampling.temperature = static_cast<float>(number_field(v, key, 0, 2));
    } else if (key == "top_p") {
      if (v.is_null()) continue;
      r.sampling.top_p = static_cast<float>(number_field(v, key, 0, 1));
      if (r.sampling.top_p <= 0) refuse(key, "must be in (0, 1], got " + v.dump());
    } else if (key == "top_k") {
      if (v.is_null()) continue;
      const int64_t k = integer_field(v, key, -1, 1 << 20);
      r.sampling.top_k = k < 0 ? 0 : static_cast<int>(k);  // -1: off, as vLLM
    } else if (key == "seed") {
      if (!v.is_null()) {
        r.sampling.seed = static_cast<uint64_t>(
            integer_field(v, key, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()));
      }
    } else if (key == "stop") {
      r.stop = stop_field(v);
    } else if (key == "stream") {
      if (!v.is_null()) r.stream = bool_field(v, key);
    } else if (key == "stream_options") {
      if (v.is_null()) continue;
      if (!v.is_object()) refuse(key, std::string("expected an object, got ") + json_type(v));
      for (const auto& [k, o] : v.items()) {
        if (k != "include_usage") refuse(key + "." + k, "unsupported");
        r.include_usage = bool_field(o, key + "." + k);
      }
    } else if (key == "ignore_eos") {
      r.sampling.stop_at_eos = !bool_field(v, key);
    } else if (key == "n") {
      if (!v.is_null()) r.n = static_cast<int>(integer_field(v, key, 1, limits.max_n));
    } else if (key == "user") {
      string_field(v, key);  // an end-user id for the caller's own records
    } else if (key == "presence_penalty" || key == "frequency_penalty") {
      if (!v.is_null()) number_field(v, key, 0, 0);
    } else if (key == "logprobs" || (chat && key == "parallel_tool_calls")) {
      only_off(v, key, chat ? json(false) : json());
    } else if (!chat && key == "echo") {
      only_off(v, key, false);
    } else {
      refuse(key, "unsupported parameter");
    }
  }
  const std::string text_field = chat ? "messages" : "prompt";
  const bool has_text = chat ? has_messages : has_prompt;
  if (!r.pml.empty() && has_text) refuse("pml", "give " + text_field + " or pml, not both");
  if (!r.pml.empty() && !r.state.empty()) refuse("pml", "give state or pml, not both");
  if (r.pml.empty() && !has_text) refuse(text_field, "missing");
  if (r.encoding != ModuleEncoding::kSchema && r.pml.empty()) refuse("encoding", "only with pml");
  if (r.save_state && !r.pml.empty()) refuse("save_state", "not with pml (use POST /v1/states)");
  if (!r.state.empty() && !r.prompt_ids.empty()) refuse("prompt", "token ids are not taken on a state");
  if (chat && has_messages && r.messages.back().role != "user") {
    refuse("messages[" + std::to_string(r.messages.size() - 1) + "].role",
           "the last message must be the user's");
  }
  if (r.include_usage && !r.stream) refuse("stream_options", "only with stream: true");
  if (r.n > 1 && r.save_state) refuse("n", "only 1 with save_state (one conversation goes on)");
  return r;
}

}  // namespace

std::variant<nlohmann::json, ApiError> parse_object(const std::string& body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {  // its message says where
    return ApiError{400, "", std::string("malformed JSON: ") + e.what()};
  }
  if (!j.is_object()) return ApiError{400, "", std::string("expected a JSON object, got ") + json_type(j)};
  return j;
}

std::variant<std::vector<ChatMessage>, ApiError> read_messages(const nlohmann::json& value) {
  try {
    return messages_field(value);
  } catch (const Refused& r) {
    return r.error;
  }
}

std::variant<GenerationRequest, ApiError> parse_generation_request(const std::string& body,
                                                                   Endpoint endpoint,
                                                                   const RequestLimits& limits) {
  auto object = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&object)) return *e;
  try {
    return read(std::get<json>(object), endpoint, limits);
  } catch (const Refused& r) {
    return r.error;
  } catch (const json::exception& e) {  // a value nlohmann cannot convert (checked above; kept safe)
    return ApiError{400, "", e.what()};
  }
}

}  // namespace pcache::server
