// A Redis server's address (parsed from a redis:// URL) and one connection
// to it through hiredis: commands pipelined (all sent, then every reply read),
// with a timeout on connecting and on every reply. The remote tier's only
// contact with Redis (cache/remote_tier.h). No libtorch here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pcache/status.h"

struct redisContext;  // hiredis stays out of this header

namespace pcache {

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string user;      // "" : the default user (AUTH with the password only)
  std::string password;  // "" : no AUTH
  // "redis://HOST:PORT/DB", never the password: for messages and logs.
  std::string to_string() const;
};

// redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]: HOST a name or an IPv4 address,
// PORT 1..65535 (default 6379), DB 0..65535 (default 0); the password is
// taken as written (no percent-decoding). Errors: InvalidArgument naming what
// is wrong (never echoing the password).
StatusOr<RedisEndpoint> parse_redis_url(const std::string& url);

// A reply as the visitor of RedisConnection::pipeline sees it: `str` points
// into hiredis' buffer, valid during the visit only.
struct RedisReplyView {
  enum class Type { kNil, kString, kInteger, kStatus, kError, kArray };
  Type type = Type::kNil;
  std::string_view str;  // kString, kStatus, kError
  int64_t integer = 0;   // kInteger; kArray: the number of elements
};

// One command's words, binary-safe.
using RedisCommand = std::vector<std::string_view>;

// Ownership: owns its socket. Thread-compatible: one thread at a time.
class RedisConnection {
 public:
  // Connects (within timeout_ms), sets timeout_ms as the limit for every
  // reply, then sends AUTH (with a password) and SELECT (db other than 0).
  // Errors: IoError "<endpoint>: ..." when it cannot connect or a reply is
  // late; FailedPrecondition when AUTH or SELECT is refused.
  static StatusOr<std::unique_ptr<RedisConnection>> open(const RedisEndpoint& endpoint,
                                                         int timeout_ms);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends every command, then reads one reply per command, in order, and
  // gives each to `visit(index, reply)`; a visit's error stops the reading
  // (the connection is then broken). Error replies (type kError) are
  // visited, not errors. Errors: IoError when the connection fails or a
  // reply does not come within the timeout: the connection is broken then,
  // and every later call fails at once.
  Status pipeline(const std::vector<RedisCommand>& commands,
                  const std::function<Status(size_t, const RedisReplyView&)>& visit);

  bool broken() const { return broken_; }

 private:
  RedisConnection(redisContext* context, std::string label);
  redisContext* context_;
  std::string label_;  // the endpoint, for messages
  bool broken_ = false;
};

}  // namespace pcache
