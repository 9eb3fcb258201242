#include "cache/redis_client.h"

#include <boost/test/unit_test.hpp>
#include <optional>

#include "redis_server.h"

namespace pcache {
namespace {

BOOST_AUTO_TEST_SUITE(redis_client_test)

BOOST_AUTO_TEST_CASE(parses_urls) {
  auto e = parse_redis_url("redis://cache.local:6380/2");
  BOOST_REQUIRE(e.ok());
  BOOST_TEST(e->host == "cache.local");
  BOOST_TEST(e->port == 6380);
  BOOST_TEST(e->db == 2);
  BOOST_TEST(e->password.empty());

  e = parse_redis_url("redis://:s3cr:t@10.0.0.7");
  BOOST_REQUIRE(e.ok());
  BOOST_TEST(e->host == "10.0.0.7");
  BOOST_TEST(e->port == 6379);
  BOOST_TEST(e->db == 0);
  BOOST_TEST(e->user.empty());
  BOOST_TEST(e->password == "s3cr:t");
  BOOST_TEST(e->to_string() == "redis://10.0.0.7:6379/0");  // never the password

  e = parse_redis_url("redis://pcache:pw@host:1/");
  BOOST_REQUIRE(e.ok());
  BOOST_TEST(e->user == "pcache");
  BOOST_TEST(e->password == "pw");
}

BOOST_AUTO_TEST_CASE(refuses_bad_urls) {
  for (const char* url : {"http://host:1", "redis://", "redis://host:0", "redis://host:65536",
                          "redis://host:port", "redis://host:1/x", "redis://pw@host:1"}) {
    auto e = parse_redis_url(url);
    BOOST_TEST(e.status().code() == StatusCode::kInvalidArgument, url);
  }
  auto e = parse_redis_url("redis://:hunter2@host:x");
  BOOST_TEST(e.status().message().find("hunter2") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(pipelines_binary_values) {
  testing::RedisServer server;
  auto conn = RedisConnection::open(server.endpoint(), 1000);
  BOOST_REQUIRE(conn.ok());
  const std::string value("a\0b\r\n", 5);
  std::string got;
  Status s = (*conn)->pipeline({{"SET", "k", value}, {"GET", "k"}, {"GET", "none"}},
                               [&](size_t i, const RedisReplyView& r) {
                                 if (i == 0) BOOST_TEST((r.type == RedisReplyView::Type::kStatus));
                                 if (i == 1) got = r.str;
                                 if (i == 2) BOOST_TEST((r.type == RedisReplyView::Type::kNil));
                                 return Status::ok_status();
                               });
  BOOST_REQUIRE(s.ok());
  BOOST_TEST(got == value);
}

BOOST_AUTO_TEST_CASE(authenticates_and_selects) {
  testing::RedisServer server;
  server.cli("CONFIG SET requirepass pw");
  RedisEndpoint e = server.endpoint();
  e.password = "wrong";
  BOOST_TEST(RedisConnection::open(e, 1000).status().code() == StatusCode::kFailedPrecondition);
  e.password = "pw";
  e.db = 3;
  auto conn = RedisConnection::open(e, 1000);
  BOOST_REQUIRE(conn.ok());
  Status s = (*conn)->pipeline({{"SET", "in3", "x"}}, [](size_t, const RedisReplyView&) {
    return Status::ok_status();
  });
  BOOST_REQUIRE(s.ok());
  BOOST_TEST(server.cli("-a pw --no-auth-warning -n 3 GET in3") == "x\n");
  BOOST_TEST(server.cli("-a pw --no-auth-warning -n 0 EXISTS in3") == "0\n");
}

BOOST_AUTO_TEST_CASE(unreachable_is_an_io_error) {
  std::optional<int> port;
  {
    testing::RedisServer server;
    port = server.port();
  }  // stopped: nothing listens there now
  RedisEndpoint e;
  e.port = *port;
  BOOST_TEST(RedisConnection::open(e, 200).status().code() == StatusCode::kIoError);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace pcache
