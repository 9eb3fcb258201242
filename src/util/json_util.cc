#include "util/json_util.h"

#include <set>
#include <vector>

#include "util/excerpt.h"

namespace pcache {
namespace {

using json = nlohmann::json;

// Thrown out of the parser callback, which has no other way to stop a parse.
struct Refused {
  std::string why;
};

}  // namespace

StatusOr<json> parse_json(std::string_view text, const std::string& source) {
  std::vector<std::set<std::string>> keys;  // of each object being parsed
  auto check = [&keys](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxJsonDepth) {
          throw Refused{"nested deeper than " + std::to_string(kMaxJsonDepth) + " levels"};
        }
        if (event == json::parse_event_t::object_start) keys.emplace_back();
        break;
      case json::parse_event_t::object_end: keys.pop_back(); break;
      case json::parse_event_t::key:
        if (!keys.back().insert(parsed.get<std::string>()).second) {
          throw Refused{"key " + excerpt(parsed.get<std::string>()) + " given twice in one object"};
        }
        break;
      default: break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), check);
  } catch (const Refused& r) {
    return Status::corruption(source + ": not valid JSON: " + r.why);
  } catch (const json::exception& e) {
    // nlohmann's text quotes the token it stopped at, which may be long.
    std::string why = e.what();
    if (why.size() > 200) why = why.substr(0, 200) + "...";
    for (char& c : why) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
    }
    return Status::corruption(source + ": not valid JSON: " + why);
  }
}

std::string json_excerpt(const json& value) {
  const std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() <= 48 ? text : excerpt(text);
}

}  // namespace pcache
