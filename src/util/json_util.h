// Parsing JSON from files (config.json, index files, safetensors headers)
// without letting nlohmann::json's exceptions or its leniency through.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "pcache/status.h"

namespace pcache {

// Objects and arrays nested deeper than this are refused: no file pcache
// reads needs more than a few levels.
inline constexpr int kMaxJsonDepth = 64;

// Parses `text`; `source` names it in messages. Refuses what nlohmann::json
// would accept silently or throw on: malformed text, numbers that overflow a
// double (1e400), a key given twice in one object (nlohmann keeps the last),
// nesting deeper than kMaxJsonDepth. Errors: Corruption "source: not valid
// JSON: <why>" (the why at most a short excerpt of the input).
StatusOr<nlohmann::json> parse_json(std::string_view text, const std::string& source);

// A short text of `value` for messages: its dump, cut as excerpt() cuts.
std::string json_excerpt(const nlohmann::json& value);

}  // namespace pcache
