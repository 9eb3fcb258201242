#include "cache/redis_client.h"

#include <hiredis/hiredis.h>

#include <charconv>
#include <utility>

namespace pcache {

namespace {

// A whole decimal number in [lo, hi], or false.
bool parse_int(std::string_view text, int lo, int hi, int* out) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < lo ||
      value > hi) {
    return false;
  }
  *out = value;
  return true;
}

timeval to_timeval(int ms) { return timeval{ms / 1000, (ms % 1000) * 1000}; }

RedisReplyView view_of(const redisReply& r) {
  RedisReplyView v;
  switch (r.type) {
    case REDIS_REPLY_STRING: v.type = RedisReplyView::Type::kString; break;
    case REDIS_REPLY_STATUS: v.type = RedisReplyView::Type::kStatus; break;
    case REDIS_REPLY_ERROR: v.type = RedisReplyView::Type::kError; break;
    case REDIS_REPLY_INTEGER: v.type = RedisReplyView::Type::kInteger; break;
    case REDIS_REPLY_ARRAY: v.type = RedisReplyView::Type::kArray; break;
    default: v.type = RedisReplyView::Type::kNil; break;
  }
  if (r.type == REDIS_REPLY_STRING || r.type == REDIS_REPLY_STATUS ||
      r.type == REDIS_REPLY_ERROR) {
    v.str = std::string_view(r.str, r.len);
  }
  v.integer = r.type == REDIS_REPLY_ARRAY ? static_cast<int64_t>(r.elements) : r.integer;
  return v;
}

}  // namespace

std::string RedisEndpoint::to_string() const {
  return "redis://" + host + ":" + std::to_string(port) + "/" + std::to_string(db);
}

StatusOr<RedisEndpoint> parse_redis_url(const std::string& url) {
  constexpr std::string_view kScheme = "redis://";
  auto invalid = [](const std::string& why) {
    return Status::invalid_argument("remote " + why +
                                    " (expected redis://[:PASSWORD@]HOST:PORT[/DB])");
  };
  std::string_view rest(url);
  if (rest.substr(0, kScheme.size()) != kScheme) {
    return invalid("URL does not start with redis://");
  }
  rest.remove_prefix(kScheme.size());
  RedisEndpoint e;
  // The password may hold any character but '@' is taken as its end at the last one.
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    const size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) return invalid("URL's user part has no ':' before the password");
    e.user = std::string(userinfo.substr(0, colon));
    e.password = std::string(userinfo.substr(colon + 1));
    rest.remove_prefix(at + 1);
  }
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && !parse_int(db, 0, 65535, &e.db)) {
      return invalid("database '" + std::string(db) + "' is not a number in [0, 65535]");
    }
    rest = rest.substr(0, slash);
  }
  if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    const std::string_view port = rest.substr(colon + 1);
    if (!parse_int(port, 1, 65535, &e.port)) {
      return invalid("port '" + std::string(port) + "' is not a number in [1, 65535]");
    }
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return invalid("URL has no host");
  e.host = std::string(rest);
  return e;
}

RedisConnection::RedisConnection(redisContext* context, std::string label)
    : context_(context), label_(std::move(label)) {}

RedisConnection::~RedisConnection() { redisFree(context_); }

StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::open(const RedisEndpoint& endpoint,
                                                                 int timeout_ms) {
  const std::string label = endpoint.to_string();
  redisContext* c = redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port,
                                            to_timeval(timeout_ms));
  if (c == nullptr) return Status::resource_exhausted(label + ": cannot allocate a connection");
  if (c->err != 0) {
    Status error = Status::io_error(label + ": cannot connect: " + c->errstr);
    redisFree(c);
    return error;
  }
  std::unique_ptr<RedisConnection> conn(new RedisConnection(c, label));
  if (redisSetTimeout(c, to_timeval(timeout_ms)) != REDIS_OK) {
    return Status::io_error(label + ": cannot set the timeout: " + c->errstr);
  }
  std::vector<RedisCommand> setup;
  const std::string db = std::to_string(endpoint.db);
  if (!endpoint.password.empty()) {
    setup.push_back(endpoint.user.empty() ? RedisCommand{"AUTH", endpoint.password}
                                          : RedisCommand{"AUTH", endpoint.user, endpoint.password});
  }
  if (endpoint.db != 0) setup.push_back({"SELECT", db});
  Status refused = Status::ok_status();
  PCACHE_RETURN_IF_ERROR(conn->pipeline(setup, [&](size_t i, const RedisReplyView& r) {
    if (r.type == RedisReplyView::Type::kError && refused.ok()) {
      const bool auth = !endpoint.password.empty() && i == 0;
      refused = Status::failed_precondition(label + ": " + (auth ? "AUTH" : "SELECT") +
                                            " refused: " + std::string(r.str));
    }
    return Status::ok_status();
  }));
  PCACHE_RETURN_IF_ERROR(refused);
  return conn;
}

Status RedisConnection::pipeline(const std::vector<RedisCommand>& commands,
                                 const std::function<Status(size_t, const RedisReplyView&)>& visit) {
  if (broken_) return Status::io_error(label_ + ": connection broken by an earlier error");
  auto fail = [&](const std::string& what) {
    broken_ = true;
    return Status::io_error(label_ + ": " + what + ": " +
                            (context_->errstr[0] != '\0' ? context_->errstr : "connection lost"));
  };
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const RedisCommand& command : commands) {
    argv.clear();
    lengths.clear();
    for (std::string_view word : command) {
      argv.push_back(word.data());
      lengths.push_back(word.size());
    }
    if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(),
                               lengths.data()) != REDIS_OK) {
      return fail("cannot queue a command");
    }
  }
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      return fail("no reply");
    }
    std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw),
                                                       freeReplyObject);
    Status visited = visit(i, view_of(*reply));
    if (!visited.ok()) {
      broken_ = true;  // the remaining replies are still on their way
      return visited;
    }
  }
  return Status::ok_status();
}

}  // namespace pcache
