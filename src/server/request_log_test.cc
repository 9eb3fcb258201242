// A request's line holds its id, status, tokens and times, as text or JSON.
#include "server/request_log.h"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "server/request_record_testing.h"

namespace pcache::server {

BOOST_AUTO_TEST_SUITE(request_log_test)

BOOST_AUTO_TEST_CASE(a_record_is_one_line_of_text_or_json) {
  RequestRecord r = testing::served_request();
  BOOST_TEST(format_record(r, LogFormat::kText) ==
             "req-7 POST /v1/completions 200 shared prompt 12 cached 8 generated 3 ttft 20.5 ms "
             "total 30.0 ms");
  r.status = 400;
  r.error = "temperature: \"x\"";
  const auto j = nlohmann::json::parse(format_record(r, LogFormat::kJson));
  BOOST_TEST(j["status"] == 400);
  BOOST_TEST(j["cached_tokens"] == 8);
  BOOST_TEST(j["error"] == "temperature: \"x\"");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache::server
