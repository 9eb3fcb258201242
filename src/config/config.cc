#include "config/config.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <sstream>
#include <utility>
#include <variant>
#include <vector>

#include "cache/redis_client.h"
#include "util/file_util.h"
#include "util/suggest.h"

namespace pcache {
namespace {

// The schema's keys, level by level, in the order the docs list them.
const std::vector<std::string> kTopKeys = {
    "model",        "device",     "dtype", "weights", "chat_template", "encoding", "schema_path",
    "prefix_cache", "max_states", "cache", "serving", "sampling",      "server"};
const std::vector<std::string> kCacheKeys = {
    "dir",    "device_bytes",       "host_bytes",        "max_pinned_share",
    "int8_tiers", "remote", "remote_password", "remote_key_prefix", "remote_ttl_seconds",
    "remote_timeout_ms"};
const std::vector<std::string> kServingKeys = {"kv_pool_bytes", "max_batch_tokens", "max_lone_batch_tokens",
                                               "max_running", "max_state_bytes"};
const std::vector<std::string> kSamplingKeys = {"max_tokens", "temperature", "top_k", "top_p",
                                                "seed"};

const std::vector<std::string> kServerKeys = {
    "host",           "port",           "model_name",       "schemas",        "api_key_file",
    "shared_cache",   "state_dir",      "max_body_bytes",   "max_prompt_tokens",
    "max_tokens_limit", "max_concurrent", "max_queue",      "shutdown_grace", "log_format"};

const std::vector<std::string>& keys_of(const std::string& section) {
  if (section == "cache") return kCacheKeys;
  if (section == "server") return kServerKeys;
  if (section == "serving") return kServingKeys;
  if (section == "sampling") return kSamplingKeys;
  return kTopKeys;
}

std::string dotted(const std::string& section, const std::string& key) {
  return section.empty() ? key : section + "." + key;
}

std::string join(const std::vector<std::string>& words, const char* separator) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += separator;
    out += w;
  }
  return out;
}

// "did you mean ...?" for an unknown key: the same name in another section
// first (a sampling key written at the top level is a common slip), else the
// closest key of this level within two edits.
std::string suggestion(const std::string& section, const std::string& key) {
  for (const std::string other : {"", "cache", "sampling", "server"}) {
    if (other == section) continue;
    const auto& keys = keys_of(other);
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
      return "; did you mean '" + dotted(other, key) + "'?";
    }
  }
  std::vector<std::string> closest = nearest_words(key, keys_of(section));
  for (std::string& c : closest) c = "'" + c + "'";
  return closest.empty() ? "" : "; did you mean " + join(closest, " or ") + "?";
}

const char* type_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    default: return "an undefined node";
  }
}

// yaml-cpp tags quoted scalars "!" and explicit strings !!str; plain ones "?".
bool is_quoted(const YAML::Node& node) {
  return node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str";
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

std::string position(const YAML::Mark& mark) {
  if (mark.is_null()) return "";
  return ", line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1);
}

// The whole of `text` as a T (from_chars: no locale, no leading space).
template <typename T>
bool parse_whole(const std::string& text, T* out) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  if (begin != end && *begin == '+') {  // YAML allows "+1"; from_chars does not
    ++begin;
    if (begin != end && (*begin == '-' || *begin == '+')) return false;
  }
  auto [ptr, ec] = std::from_chars(begin, end, *out);
  return begin != end && ec == std::errc() && ptr == end;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t'; }

// An optional sign and digits: an integer, if perhaps out of range.
bool is_integer_text(const std::string& text) {
  const size_t start = !text.empty() && (text[0] == '-' || text[0] == '+');
  return text.size() > start && std::all_of(text.begin() + start, text.end(), is_digit);
}

// Multipliers of the byte-size units (SI for KB..TB, binary for KiB..TiB).
const std::vector<std::pair<std::string, int64_t>> kByteUnits = {
    {"B", 1},
    {"KB", 1000},
    {"MB", 1000 * 1000},
    {"GB", 1000ll * 1000 * 1000},
    {"TB", 1000ll * 1000 * 1000 * 1000},
    {"KiB", 1ll << 10},
    {"MiB", 1ll << 20},
    {"GiB", 1ll << 30},
    {"TiB", 1ll << 40},
};

std::string unit_list() {
  std::vector<std::string> names;
  for (const auto& u : kByteUnits) names.push_back(u.first);
  return join(names, ", ");
}

// "2GiB", "1.5 GB", "4096": bytes, or an error message (without the key).
std::variant<int64_t, std::string> parse_byte_size(const std::string& text) {
  const std::string expected = "expected bytes as an integer or a number with a unit (" +
                               unit_list() + "), got " + quote(text);
  size_t i = 0;
  while (i < text.size() && is_space(text[i])) ++i;
  if (i < text.size() && text[i] == '-')
    return std::string("must not be negative, got " + quote(text));
  if (i < text.size() && text[i] == '+') ++i;
  std::string whole, fraction;
  while (i < text.size() && is_digit(text[i])) whole += text[i++];
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && is_digit(text[i])) fraction += text[i++];
  }
  if (whole.empty() && fraction.empty()) return expected;
  while (i < text.size() && is_space(text[i])) ++i;
  size_t unit_end = text.size();
  while (unit_end > i && is_space(text[unit_end - 1])) --unit_end;
  const std::string unit = text.substr(i, unit_end - i);
  int64_t multiplier = 1;
  if (!unit.empty()) {
    auto it = std::find_if(kByteUnits.begin(), kByteUnits.end(),
                           [&](const auto& u) { return u.first == unit; });
    if (it == kByteUnits.end()) {
      return "unknown unit " + quote(unit) + " in " + quote(text) + "; expected one of " +
             unit_list();
    }
    multiplier = it->second;
  }
  if (multiplier == 1 && fraction.find_first_not_of('0') != std::string::npos) {
    return "a fraction of a byte in " + quote(text) + "; give a unit (e.g. 1.5GiB) or whole bytes";
  }
  // Exact decimal arithmetic: whole * multiplier + fraction * multiplier,
  // rounded down, so that 1.5GiB is exactly 1610612736.
  const std::string too_large = quote(text) + " is too large (at most " +
                                std::to_string(std::numeric_limits<int64_t>::max()) + " bytes)";
  whole.erase(0, std::min(whole.find_first_not_of('0'), whole.size()));
  if (whole.size() > 19) return too_large;
  unsigned __int128 bytes = 0;
  for (char c : whole) bytes = bytes * 10 + static_cast<unsigned>(c - '0');
  bytes *= static_cast<unsigned __int128>(multiplier);
  if (fraction.size() > 18) fraction.resize(18);  // beyond 1e-18 TiB is below a byte
  unsigned __int128 numerator = 0, denominator = 1;
  for (char c : fraction) {
    numerator = numerator * 10 + static_cast<unsigned>(c - '0');
    denominator *= 10;
  }
  bytes += numerator * static_cast<unsigned __int128>(multiplier) / denominator;
  if (bytes > static_cast<unsigned __int128>(std::numeric_limits<int64_t>::max())) {
    return too_large;
  }
  return static_cast<int64_t>(bytes);
}

// The home directory of `user` ("" = this process's account) from the
// password database, or "" when there is none. The _r calls: no static buffer
// shared with other threads.
std::string account_home(const std::string& user) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  const int err = user.empty()
                      ? ::getpwuid_r(::getuid(), &entry, buffer.data(), buffer.size(), &found)
                      : ::getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found);
  return err == 0 && found && found->pw_dir ? found->pw_dir : "";
}

std::string home_directory() {
  if (const char* home = std::getenv("HOME"); home && *home) return home;
  return account_home("");
}

// 0 when `path` exists, else stat's errno.
int stat_error(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? 0 : errno;
}

// One key of a map and its value, with the dotted path errors name.
struct Entry {
  std::string key;  // dotted
  YAML::Node key_node;
  YAML::Node value;
};

class ConfigReader {
 public:
  ConfigReader(std::string file, Config* config) : file_(std::move(file)), config_(config) {}

  Status read(const YAML::Node& root) {
    if (root.IsNull()) return Status::ok_status();  // empty file: all defaults
    if (!root.IsMap()) {
      return error(root.Mark(), "the top level must be a map of keys (" + join(kTopKeys, ", ") +
                                    "), got " + type_name(root));
    }
    std::vector<Entry> entries;
    PCACHE_RETURN_IF_ERROR(read_entries(root, "", &entries));
    for (const Entry& e : entries) {
      const std::string& k = e.key;
      if (k == "cache" || k == "serving" || k == "sampling" || k == "server") {
        PCACHE_RETURN_IF_ERROR(read_section(e));
        continue;
      }
      config_->keys_set.insert(k);
      EngineOptions& engine = config_->engine;
      if (k == "model") {
        PCACHE_ASSIGN_OR_RETURN(config_->model, read_path(e));
      } else if (k == "device") {
        PCACHE_ASSIGN_OR_RETURN(engine.device, read_device(e));
      } else if (k == "dtype") {
        PCACHE_ASSIGN_OR_RETURN(engine.dtype,
                                read_word(e, {"auto", "float32", "bfloat16", "float16"}));
      } else if (k == "weights") {
        PCACHE_ASSIGN_OR_RETURN(engine.weights, read_word(e, {"dtype", "int8", "int8-zp"}));
      } else if (k == "chat_template") {
        PCACHE_ASSIGN_OR_RETURN(engine.chat_template, read_word(e, {"auto", "llama3", "chatml", "mistral", "llama2"}));
      } else if (k == "encoding") {
        PCACHE_ASSIGN_OR_RETURN(engine.default_encoding, read_word(e, {"scaffold", "independent"}));
      } else if (k == "schema_path") {
        PCACHE_ASSIGN_OR_RETURN(engine.schema_path, read_paths(e));
      } else if (k == "prefix_cache") {
        PCACHE_ASSIGN_OR_RETURN(engine.prefix_cache, read_bool(e));
      } else if (k == "max_states") {
        PCACHE_ASSIGN_OR_RETURN(config_->max_states, read_int(e, 1, 4096));
        engine.max_states = config_->max_states;
      }
    }
    return Status::ok_status();
  }

 private:
  Status read_section(const Entry& section) {
    // "cache:" with every key commented out is an empty section, not an error.
    if (section.value.IsNull()) return Status::ok_status();
    if (!section.value.IsMap()) {
      return error(section, std::string("expected a map of keys (") +
                                join(keys_of(section.key), ", ") + "), got " +
                                type_name(section.value));
    }
    std::vector<Entry> entries;
    PCACHE_RETURN_IF_ERROR(read_entries(section.value, section.key, &entries));
    EngineOptions& engine = config_->engine;
    SamplingOptions& sampling = config_->sampling;
    for (const Entry& e : entries) {
      config_->keys_set.insert(e.key);
      const std::string& k = e.key;
      if (k == "cache.dir") {
        PCACHE_ASSIGN_OR_RETURN(engine.cache_dir, read_path(e));
      } else if (k == "cache.device_bytes") {
        PCACHE_ASSIGN_OR_RETURN(engine.device_cache_bytes, read_bytes(e));
      } else if (k == "cache.host_bytes") {
        PCACHE_ASSIGN_OR_RETURN(engine.host_cache_bytes, read_bytes(e));
      } else if (k == "serving.kv_pool_bytes") {
        PCACHE_ASSIGN_OR_RETURN(engine.kv_pool_bytes, read_bytes(e));
      } else if (k == "serving.max_batch_tokens") {
        PCACHE_ASSIGN_OR_RETURN(engine.max_batch_tokens, read_int(e, 1, 1 << 20));
      } else if (k == "serving.max_lone_batch_tokens") {
        PCACHE_ASSIGN_OR_RETURN(engine.max_lone_batch_tokens, read_int(e, 0, 1 << 20));
      } else if (k == "serving.max_state_bytes") {
        PCACHE_ASSIGN_OR_RETURN(engine.max_state_bytes, read_bytes(e));
      } else if (k == "serving.max_running") {
        PCACHE_ASSIGN_OR_RETURN(engine.max_running, read_int(e, 1, 65536));
      } else if (k == "cache.max_pinned_share") {
        PCACHE_ASSIGN_OR_RETURN(double share, read_number(e));
        if (!(share >= 0 && share <= 1)) return out_of_range(e, "in [0, 1]");
        engine.max_pinned_share = share;
      } else if (k == "cache.int8_tiers") {
        PCACHE_ASSIGN_OR_RETURN(engine.int8_tiers, read_bool(e));
      } else if (k == "cache.remote") {
        PCACHE_ASSIGN_OR_RETURN(engine.remote, scalar(e, "a redis:// URL"));
        if (auto url = parse_redis_url(engine.remote); !engine.remote.empty() && !url.ok()) {
          return error(e, url.status().message());
        }
      } else if (k == "cache.remote_password") {
        PCACHE_ASSIGN_OR_RETURN(engine.remote_password, scalar(e, "a password"));
      } else if (k == "cache.remote_key_prefix") {
        PCACHE_ASSIGN_OR_RETURN(engine.remote_key_prefix, scalar(e, "a key prefix"));
      } else if (k == "cache.remote_ttl_seconds") {
        PCACHE_ASSIGN_OR_RETURN(int ttl, read_int(e, 0, std::numeric_limits<int>::max()));
        engine.remote_ttl_seconds = ttl;
      } else if (k == "cache.remote_timeout_ms") {
        PCACHE_ASSIGN_OR_RETURN(engine.remote_timeout_ms, read_int(e, 1, 600000));
      } else if (k == "sampling.max_tokens") {
        PCACHE_ASSIGN_OR_RETURN(sampling.max_tokens, read_int(e, 1, 1 << 20));
      } else if (k == "sampling.temperature") {
        PCACHE_ASSIGN_OR_RETURN(double t, read_number(e));
        // Checked as the float the sampler will see.
        const float f = static_cast<float>(t);
        if (!(f >= 0.f && f <= 100.f)) return out_of_range(e, "in [0, 100]");
        sampling.temperature = f;
      } else if (k == "sampling.top_k") {
        PCACHE_ASSIGN_OR_RETURN(sampling.top_k, read_int(e, 0, std::numeric_limits<int>::max()));
      } else if (k == "sampling.top_p") {
        PCACHE_ASSIGN_OR_RETURN(double p, read_number(e));
        const float f = static_cast<float>(p);
        if (!(f > 0.f && f <= 1.f)) return out_of_range(e, "in (0, 1]");
        sampling.top_p = f;
      } else if (k == "sampling.seed") {
        PCACHE_ASSIGN_OR_RETURN(sampling.seed, read_seed(e));
      } else if (k.rfind("server.", 0) == 0) {
        PCACHE_RETURN_IF_ERROR(read_server_key(e));
      }
    }
    return Status::ok_status();
  }

  Status read_server_key(const Entry& e) {
    ServerOptions& server = config_->server;
    const std::string k = e.key.substr(7);
    if (k == "host") {
      PCACHE_ASSIGN_OR_RETURN(server.host, scalar(e, "an address"));
    } else if (k == "port") {
      PCACHE_ASSIGN_OR_RETURN(server.port, read_int(e, 0, 65535));
    } else if (k == "model_name") {
      PCACHE_ASSIGN_OR_RETURN(server.model_name, scalar(e, "a name"));
    } else if (k == "schemas") {
      PCACHE_ASSIGN_OR_RETURN(server.schemas, read_paths(e));
    } else if (k == "api_key_file") {
      PCACHE_ASSIGN_OR_RETURN(server.api_key_file, read_path(e));
    } else if (k == "shared_cache") {
      PCACHE_ASSIGN_OR_RETURN(server.shared_cache, read_bool(e));
    } else if (k == "state_dir") {
      PCACHE_ASSIGN_OR_RETURN(server.state_dir, read_path(e));
    } else if (k == "max_body_bytes") {
      PCACHE_ASSIGN_OR_RETURN(server.max_body_bytes, read_bytes(e));
      if (server.max_body_bytes < 1) return out_of_range(e, "at least 1 byte");
    } else if (k == "max_prompt_tokens") {
      PCACHE_ASSIGN_OR_RETURN(server.max_prompt_tokens, read_int(e, 0, 1 << 24));
    } else if (k == "max_tokens_limit") {
      PCACHE_ASSIGN_OR_RETURN(server.max_tokens_limit, read_int(e, 1, 1 << 20));
    } else if (k == "max_concurrent") {
      PCACHE_ASSIGN_OR_RETURN(server.max_concurrent, read_int(e, 1, 4096));
    } else if (k == "max_queue") {
      PCACHE_ASSIGN_OR_RETURN(server.max_queue, read_int(e, 0, 65536));
    } else if (k == "shutdown_grace") {
      PCACHE_ASSIGN_OR_RETURN(double grace, read_number(e));
      if (!(grace >= 0 && grace <= 3600)) return out_of_range(e, "in [0, 3600] seconds");
      server.shutdown_grace_s = grace;
    } else if (k == "log_format") {
      PCACHE_ASSIGN_OR_RETURN(server.log_format, read_word(e, {"text", "json"}));
    }
    return Status::ok_status();
  }

  // The entries of `map` under `section` ("" = top level), in file order;
  // rejects non-scalar keys, unknown keys and duplicates.
  Status read_entries(const YAML::Node& map, const std::string& section,
                      std::vector<Entry>* entries) {
    const auto& valid = keys_of(section);
    std::map<std::string, YAML::Mark> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      // Copies: `it->first` lives in a temporary proxy.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) {
        return error(key.Mark(), (section.empty() ? std::string("a top-level key")
                                                  : "a key under '" + section + "'") +
                                     " must be a word, got " + type_name(key));
      }
      const std::string name = dotted(section, key.Scalar());
      if (std::find(valid.begin(), valid.end(), key.Scalar()) == valid.end()) {
        return error(key.Mark(), "unknown key " + quote(name) + "; valid keys " +
                                     (section.empty() ? std::string("at the top level")
                                                      : "under '" + section + "'") +
                                     ": " + join(valid, ", ") + suggestion(section, key.Scalar()));
      }
      // yaml-cpp keeps both pairs of a duplicated key; the later one would
      // silently win, so say so instead.
      if (auto [first, inserted] = seen.emplace(name, key.Mark()); !inserted) {
        return error(key.Mark(), name + ": duplicate key (first set at line " +
                                     std::to_string(first->second.line + 1) + ")");
      }
      entries->push_back({name, key, value});
    }
    return Status::ok_status();
  }

  Status error(const YAML::Mark& mark, const std::string& message) const {
    return Status::invalid_argument(file_ + position(mark) + ": " + message);
  }
  // Errors about a value point at its key: the value's own mark is that of
  // an anchor for an alias, and of the next token for a missing value.
  Status error(const Entry& e, const std::string& message) const {
    return error(e.key_node.Mark(), e.key + ": " + message);
  }
  Status out_of_range(const Entry& e, const std::string& range) const {
    return error(e, "must be " + range + ", got " + e.value.Scalar());
  }

  // The scalar's text, or an error when the value is missing or not a scalar.
  StatusOr<std::string> scalar(const Entry& e, const char* expected) const {
    if (e.value.IsNull()) {
      return error(e, std::string("has no value (expected ") + expected +
                          "; remove the key to keep the default)");
    }
    if (!e.value.IsScalar()) {
      return error(e, std::string("expected ") + expected + ", got " + type_name(e.value));
    }
    return e.value.Scalar();
  }
  // As scalar(), but a quoted string is the wrong type for a number or a boolean.
  StatusOr<std::string> unquoted(const Entry& e, const char* expected) const {
    PCACHE_ASSIGN_OR_RETURN(std::string text, scalar(e, expected));
    if (is_quoted(e.value)) {
      return error(e, std::string("expected ") + expected + ", got the string " + quote(text) +
                          " (remove the quotes)");
    }
    return text;
  }

  StatusOr<std::string> read_path(const Entry& e) const {
    if (e.value.IsNull()) {
      return error(e,
                   "has no value (expected a path; a bare ~ is YAML's null, write \"~\" for "
                   "the home directory)");
    }
    PCACHE_ASSIGN_OR_RETURN(std::string text, scalar(e, "a path"));
    auto expanded = expand_home(text);
    if (!expanded.ok()) return error(e, expanded.status().message());
    return *expanded;
  }

  // A list of paths, or one path.
  StatusOr<std::vector<std::string>> read_paths(const Entry& e) const {
    if (!e.value.IsSequence()) {
      PCACHE_ASSIGN_OR_RETURN(std::string one, read_path(e));
      return std::vector<std::string>{one};
    }
    std::vector<std::string> paths;
    for (size_t i = 0; i < e.value.size(); ++i) {
      const Entry item{e.key + "[" + std::to_string(i) + "]", e.key_node, e.value[i]};
      PCACHE_ASSIGN_OR_RETURN(std::string path, read_path(item));
      paths.push_back(path);
    }
    return paths;
  }

  StatusOr<std::string> read_word(const Entry& e, const std::vector<std::string>& words) const {
    const std::string expected = "one of " + join(words, ", ");
    PCACHE_ASSIGN_OR_RETURN(std::string text, scalar(e, expected.c_str()));
    if (std::find(words.begin(), words.end(), text) == words.end()) {
      return error(e, "expected " + expected + ", got " + quote(text));
    }
    return text;
  }

  StatusOr<std::string> read_device(const Entry& e) const {
    constexpr const char* kExpected = "cpu, cuda or cuda:N";
    PCACHE_ASSIGN_OR_RETURN(std::string text, scalar(e, kExpected));
    if (text == "cpu" || text == "cuda") return text;
    // cuda:N as libtorch parses it: digits, no sign, no leading zero.
    const std::string index = text.rfind("cuda:", 0) == 0 ? text.substr(5) : "";
    const bool ok = !index.empty() && index.size() <= 3 &&
                    std::all_of(index.begin(), index.end(), is_digit) &&
                    (index == "0" || index[0] != '0');
    if (!ok) return error(e, std::string("expected ") + kExpected + ", got " + quote(text));
    return text;
  }

  StatusOr<bool> read_bool(const Entry& e) const {
    constexpr const char* kExpected = "true or false";
    PCACHE_ASSIGN_OR_RETURN(std::string text, unquoted(e, kExpected));
    bool value = false;
    // yaml-cpp's booleans: true/false, yes/no, on/off, y/n in three cases.
    if (!YAML::convert<bool>::decode(e.value, value)) {
      return error(e, std::string("expected ") + kExpected + ", got " + quote(text));
    }
    return value;
  }

  StatusOr<int> read_int(const Entry& e, int64_t lo, int64_t hi) const {
    PCACHE_ASSIGN_OR_RETURN(std::string text, unquoted(e, "an integer"));
    int64_t value = 0;
    const std::string range =
        "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    if (!parse_whole(text, &value)) {
      // Tell "too large for 64 bits" from "not an integer at all".
      return error(e, (is_integer_text(text) ? "must be " + range + ", got "
                                             : std::string("expected an integer, got ")) +
                          quote(text));
    }
    if (value < lo || value > hi) return error(e, "must be " + range + ", got " + text);
    return static_cast<int>(value);
  }

  StatusOr<double> read_number(const Entry& e) const {
    PCACHE_ASSIGN_OR_RETURN(std::string text, unquoted(e, "a number"));
    double value = 0;
    if (!parse_whole(text, &value)) return error(e, "expected a number, got " + quote(text));
    return value;
  }

  StatusOr<uint64_t> read_seed(const Entry& e) const {
    const std::string range =
        "an integer in [0, " + std::to_string(std::numeric_limits<uint64_t>::max()) + "]";
    PCACHE_ASSIGN_OR_RETURN(std::string text, unquoted(e, range.c_str()));
    uint64_t value = 0;
    if (!parse_whole(text, &value)) {
      return error(
          e, (is_integer_text(text) ? "must be " : "expected ") + range + ", got " + quote(text));
    }
    return value;
  }

  StatusOr<int64_t> read_bytes(const Entry& e) const {
    PCACHE_ASSIGN_OR_RETURN(std::string text, scalar(e, "a byte size such as 2GiB"));
    auto parsed = parse_byte_size(text);
    if (auto* message = std::get_if<std::string>(&parsed)) return error(e, *message);
    return std::get<int64_t>(parsed);
  }

  std::string file_;
  Config* config_;
};

}  // namespace

void apply_config(const Config& c, const std::set<std::string>& given, std::string* model,
                  EngineOptions* engine, SamplingOptions* sampling) {
  auto take = [&](const char* key, auto& field, const auto& value) {
    if (c.has(key) && given.count(key) == 0) field = value;
  };
  const EngineOptions& e = c.engine;
  take("model", *model, c.model);
  take("device", engine->device, e.device);
  take("dtype", engine->dtype, e.dtype);
  take("weights", engine->weights, e.weights);
  take("chat_template", engine->chat_template, e.chat_template);
  take("encoding", engine->default_encoding, e.default_encoding);
  take("schema_path", engine->schema_path, e.schema_path);
  take("prefix_cache", engine->prefix_cache, e.prefix_cache);
  take("max_states", engine->max_states, c.max_states);
  take("cache.dir", engine->cache_dir, e.cache_dir);
  take("cache.device_bytes", engine->device_cache_bytes, e.device_cache_bytes);
  take("cache.host_bytes", engine->host_cache_bytes, e.host_cache_bytes);
  take("cache.max_pinned_share", engine->max_pinned_share, e.max_pinned_share);
  take("cache.int8_tiers", engine->int8_tiers, e.int8_tiers);
  take("cache.remote", engine->remote, e.remote);
  take("cache.remote_password", engine->remote_password, e.remote_password);
  take("cache.remote_key_prefix", engine->remote_key_prefix, e.remote_key_prefix);
  take("cache.remote_ttl_seconds", engine->remote_ttl_seconds, e.remote_ttl_seconds);
  take("cache.remote_timeout_ms", engine->remote_timeout_ms, e.remote_timeout_ms);
  take("serving.kv_pool_bytes", engine->kv_pool_bytes, e.kv_pool_bytes);
  take("serving.max_batch_tokens", engine->max_batch_tokens, e.max_batch_tokens);
  take("serving.max_lone_batch_tokens", engine->max_lone_batch_tokens, e.max_lone_batch_tokens);
  take("serving.max_running", engine->max_running, e.max_running);
  take("serving.max_state_bytes", engine->max_state_bytes, e.max_state_bytes);
  take("sampling.max_tokens", sampling->max_tokens, c.sampling.max_tokens);
  take("sampling.temperature", sampling->temperature, c.sampling.temperature);
  take("sampling.top_k", sampling->top_k, c.sampling.top_k);
  take("sampling.top_p", sampling->top_p, c.sampling.top_p);
  take("sampling.seed", sampling->seed, c.sampling.seed);
}

void apply_server_config(const Config& c, const std::set<std::string>& given, ServerOptions* server) {
  auto take = [&](const char* key, auto& field, const auto& value) {
    if (c.has(key) && given.count(key) == 0) field = value;
  };
  const ServerOptions& s = c.server;
  take("server.host", server->host, s.host);
  take("server.port", server->port, s.port);
  take("server.model_name", server->model_name, s.model_name);
  take("server.schemas", server->schemas, s.schemas);
  take("server.api_key_file", server->api_key_file, s.api_key_file);
  take("server.shared_cache", server->shared_cache, s.shared_cache);
  take("server.state_dir", server->state_dir, s.state_dir);
  take("server.max_body_bytes", server->max_body_bytes, s.max_body_bytes);
  take("server.max_prompt_tokens", server->max_prompt_tokens, s.max_prompt_tokens);
  take("server.max_tokens_limit", server->max_tokens_limit, s.max_tokens_limit);
  take("server.max_concurrent", server->max_concurrent, s.max_concurrent);
  take("server.max_queue", server->max_queue, s.max_queue);
  take("server.shutdown_grace", server->shutdown_grace_s, s.shutdown_grace_s);
  take("server.log_format", server->log_format, s.log_format);
}

StatusOr<std::string> expand_home(const std::string& path) {
  if (path.empty() || path[0] != '~') return path;
  const size_t slash = path.find('/');
  const std::string user =
      path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
  const std::string rest = slash == std::string::npos ? "" : path.substr(slash);
  std::string home;
  if (user.empty()) {
    home = home_directory();
    if (home.empty()) {
      return Status::invalid_argument("cannot expand " + quote(path) +
                                      ": $HOME is not set and the account has no home directory");
    }
  } else {
    home = account_home(user);
    if (home.empty()) {
      return Status::invalid_argument("cannot expand " + quote(path) + ": no user " + quote(user));
    }
  }
  // "~/x" with HOME=/ gives "/x", not "//x".
  if (!rest.empty() && !home.empty() && home.back() == '/') home.pop_back();
  return home + rest;
}

// Sees a YAML stream's events and keeps nothing: counting documents first
// bounds YAML::LoadAll, which on some inputs (a lone ",") returns empty
// documents for ever without consuming input (yaml-cpp 0.7).
class IgnoreEvents : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

StatusOr<Config> parse_config(const std::string& yaml_text, const std::string& file_name) {
  Config config;
  config.source = file_name;
  std::vector<YAML::Node> documents;
  try {
    // One document, and an empty one after a trailing "---", are all a
    // configuration may hold; more is refused before anything is built.
    std::istringstream stream(yaml_text);
    YAML::Parser parser(stream);
    IgnoreEvents ignore;
    int count = 0;
    while (count <= 2 && parser.HandleNextDocument(ignore)) ++count;
    if (count > 2) {
      return Status::invalid_argument(file_name +
                                      ": malformed YAML: more than one document (or a stray "
                                      "',' or '-' outside any mapping); the file must hold one");
    }
    documents = YAML::LoadAll(yaml_text);
  } catch (const YAML::Exception& e) {
    return Status::invalid_argument(file_name + position(e.mark) + ": malformed YAML: " + e.msg);
  } catch (const std::exception& e) {
    return Status::invalid_argument(file_name + ": malformed YAML: " + e.what());
  }
  // A trailing "---" makes an empty second document; anything more is a mistake.
  for (size_t i = 1; i < documents.size(); ++i) {
    if (documents[i].IsNull()) continue;
    return Status::invalid_argument(file_name + position(documents[i].Mark()) +
                                    ": a second YAML document; the file must hold only one");
  }
  if (documents.empty()) return config;  // empty, or only comments
  try {
    PCACHE_RETURN_IF_ERROR(ConfigReader(file_name, &config).read(documents[0]));
  } catch (const YAML::Exception& e) {
    // Not expected (the reader checks node types first); a bug if it happens.
    return Status::internal(file_name + position(e.mark) + ": " + e.msg);
  }
  return config;
}

StatusOr<Config> load_config(const std::string& path) {
  PCACHE_ASSIGN_OR_RETURN(std::string text,
                          read_file(path, kMaxConfigFileBytes, "configuration files"));
  return parse_config(text, path);
}

StatusOr<std::string> default_config_path() {
  if (const char* env = std::getenv("PCACHE_CONFIG"); env && *env) {
    // Asked for by name: missing is an error, not "no config".
    if (const int err = stat_error(env); err != 0) {
      const std::string message =
          std::string(env) + " (named by $PCACHE_CONFIG): " + std::strerror(err);
      if (err == ENOENT || err == ENOTDIR) return Status::not_found(message);
      return Status::io_error(message);
    }
    return std::string(env);
  }
  std::string path;
  // The XDG spec says to ignore a relative $XDG_CONFIG_HOME.
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && xdg[0] == '/') {
    path = std::string(xdg) + "/pcache/config.yaml";
  } else {
    const std::string home = home_directory();
    if (home.empty()) return std::string();  // nowhere to look: no config
    path = home + "/.config/pcache/config.yaml";
  }
  // Only a file that is not there means "no config"; one that cannot be
  // looked at (EACCES) is returned so that load_config reports why.
  const int err = stat_error(path);
  return err == ENOENT || err == ENOTDIR ? std::string() : path;
}

}  // namespace pcache
