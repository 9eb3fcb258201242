#include "cache/write_behind.h"

#include <boost/test/unit_test.hpp>
#include <future>

#include "cache/remote_tier.h"
#include "redis_server.h"

namespace pcache {
namespace {

std::unique_ptr<RemoteTier> tier_on(const testing::RedisServer& server) {
  RemoteTierOptions o;
  o.endpoint = server.endpoint();
  o.backoff_initial_ms = 0;
  o.warn = [](const std::string&) {};
  auto t = RemoteTier::create(o);
  BOOST_REQUIRE(t.ok());
  return std::move(*t);
}

BOOST_AUTO_TEST_SUITE(write_behind_test)

BOOST_AUTO_TEST_CASE(writes_from_its_thread_and_skips_what_is_there) {
  testing::RedisServer server;
  auto tier = tier_on(server);
  WriteBehind w(*tier, 16);
  const auto caller = std::this_thread::get_id();
  std::thread::id producer;
  BOOST_TEST(w.enqueue("a", [&]() -> StatusOr<std::string> {
    producer = std::this_thread::get_id();
    return std::string("alpha");
  }));
  BOOST_TEST(w.enqueue("b", []() -> StatusOr<std::string> { return Status::internal("no bytes"); }));
  w.flush();
  BOOST_TEST((producer != caller));
  BOOST_TEST((*tier->get("a") == "alpha"));
  BOOST_TEST(tier->get("b").status().code() == StatusCode::kNotFound);
  bool produced = false;
  BOOST_TEST(w.enqueue("a", [&]() -> StatusOr<std::string> {
    produced = true;
    return std::string("again");
  }));
  w.flush();
  BOOST_TEST(!produced);  // "a" is there: not encoded again
  const WriteBehindStats s = w.stats();
  BOOST_TEST(s.queued == 3);
  BOOST_TEST(s.written == 1);
  BOOST_TEST(s.failed == 1);
  BOOST_TEST(s.skipped == 1);
}

BOOST_AUTO_TEST_CASE(drops_jobs_beyond_its_queue) {
  testing::RedisServer server;
  auto tier = tier_on(server);
  WriteBehind w(*tier, 2);
  std::promise<void> started, release;
  std::shared_future<void> released = release.get_future().share();
  BOOST_TEST(w.enqueue("running", [&]() -> StatusOr<std::string> {
    started.set_value();
    released.wait();
    return std::string("r");
  }));
  started.get_future().wait();  // the thread holds the first job: the queue is empty
  BOOST_TEST(w.enqueue("q1", [] { return StatusOr<std::string>(std::string("1")); }));
  BOOST_TEST(w.enqueue("q2", [] { return StatusOr<std::string>(std::string("2")); }));
  BOOST_TEST(!w.enqueue("q3", [] { return StatusOr<std::string>(std::string("3")); }));
  release.set_value();
  w.flush();
  BOOST_TEST(w.stats().dropped == 1);
  BOOST_TEST(w.stats().written == 3);
  BOOST_TEST(tier->get("q3").status().code() == StatusCode::kNotFound);
}

BOOST_AUTO_TEST_CASE(an_unreachable_tier_costs_no_encoding) {
  std::unique_ptr<RemoteTier> tier;
  {
    testing::RedisServer server;
    tier = tier_on(server);
  }
  bool produced = false;
  {
    WriteBehind w(*tier, 4);
    w.enqueue("k", [&]() -> StatusOr<std::string> {
      produced = true;
      return std::string("v");
    });
  }  // the destructor runs what is queued
  BOOST_TEST(!produced);
  BOOST_TEST(tier->stats().outages == 1);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace pcache
