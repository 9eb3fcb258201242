// The Prometheus text: counters by endpoint and status, cumulative histogram
// buckets, and the engine's gauges.
#include "server/metrics.h"

#include <boost/test/unit_test.hpp>

#include "server/request_record_testing.h"

namespace pcache::server {

BOOST_AUTO_TEST_SUITE(metrics_test)

BOOST_AUTO_TEST_CASE(requests_tokens_and_histograms_are_rendered) {
  Metrics m;
  const RequestRecord ok = testing::served_request();
  m.record(ok);
  m.record(ok);
  RequestRecord bad;
  bad.endpoint = "/v1/completions";
  bad.status = 400;
  m.record(bad);
  EngineGauges g;
  g.serving.blocks = 10;
  g.serving.blocks_in_use = 5;
  g.cache.disk_hits = 7;
  g.serving.overlapped_steps = 41;
  const std::string text = m.render(g);
  auto has = [&](const std::string& line) {
    BOOST_TEST(text.find(line + "\n") != std::string::npos, line);
  };
  has("pcache_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 2");
  has("pcache_requests_total{endpoint=\"/v1/completions\",status=\"400\"} 1");
  has("pcache_cached_tokens_total 16");
  has("pcache_time_to_first_token_seconds_bucket{le=\"0.01\"} 0");
  has("pcache_time_to_first_token_seconds_bucket{le=\"0.025\"} 2");
  has("pcache_time_to_first_token_seconds_bucket{le=\"+Inf\"} 2");
  has("pcache_time_to_first_token_seconds_count 2");
  has("pcache_time_per_output_token_seconds_bucket{le=\"0.005\"} 2");
  has("pcache_request_duration_seconds_count 3");
  has("pcache_kv_pool_usage_ratio 0.5");
  has("pcache_module_store_hits_total{tier=\"disk\"} 7");
  has("# TYPE pcache_queue_length gauge");
  has("pcache_scheduler_overlapped_steps_total 41");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache::server
