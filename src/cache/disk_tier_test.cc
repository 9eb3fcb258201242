// The ByteTier contract on both tiers (a folder, a real Redis), then what is
// the disk's own: file names, what it leaves alone, killed writers' files.
#include "cache/disk_tier.h"

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "cache/remote_tier.h"
#include "redis_server.h"
#include "testing.h"

namespace pcache {
namespace {

// What every ByteTier does (byte_tier.h).
void check_contract(ByteTier& tier) {
  BOOST_TEST(tier.get("k").status().code() == StatusCode::kNotFound);
  BOOST_TEST(tier.size("k").status().code() == StatusCode::kNotFound);
  BOOST_TEST(tier.erase("k").ok());  // nothing there: ok
  const std::string value("one\0two", 7);
  BOOST_REQUIRE(tier.put("k", value).ok());
  BOOST_TEST((*tier.get("k") == value));
  BOOST_TEST(*tier.size("k") == 7);
  BOOST_REQUIRE(tier.put("k", "replaced").ok());
  BOOST_TEST((*tier.get("k") == "replaced"));
  BOOST_REQUIRE(tier.put("other", "").ok());  // an empty value is a value
  BOOST_TEST((*tier.get("other") == ""));
  BOOST_REQUIRE(tier.erase("k").ok());
  BOOST_TEST(tier.get("k").status().code() == StatusCode::kNotFound);
  BOOST_TEST((*tier.get("other") == ""));
}

BOOST_AUTO_TEST_SUITE(disk_tier_test)

BOOST_AUTO_TEST_CASE(a_folder_keeps_the_byte_tier_contract) {
  testing::TempDir dir;
  DiskTier tier(dir.path + "/a/b", ".bin");  // created with its parents
  check_contract(tier);
}

BOOST_AUTO_TEST_CASE(redis_keeps_the_byte_tier_contract) {
  testing::RedisServer server;
  RemoteTierOptions o;
  o.endpoint = server.endpoint();
  o.chunk_bytes = 3;  // values of several chunks
  auto tier = RemoteTier::create(o);
  BOOST_REQUIRE(tier.ok());
  check_contract(**tier);
}

BOOST_AUTO_TEST_CASE(one_file_per_key_named_by_its_hash) {
  testing::TempDir dir;
  DiskTier tier(dir.path, ".pcm");
  BOOST_REQUIRE(tier.put("model/schema/module/0123", "bytes").ok());
  const std::string path = tier.path_of("model/schema/module/0123");
  BOOST_TEST(path.rfind(dir.path + "/", 0) == 0u);
  BOOST_TEST(path.size() == dir.path.size() + 1 + 16 + 4);  // 16 hex digits + ".pcm"
  std::ifstream in(path);
  std::string read((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST(read == "bytes");
  BOOST_TEST(tier.path_of("another") != path);
}

BOOST_AUTO_TEST_CASE(what_it_never_writes_is_an_error_and_left_alone) {
  testing::TempDir dir;
  DiskTier tier(dir.path, ".pcm");
  const std::string folder = tier.path_of("folder"), fifo = tier.path_of("fifo");
  BOOST_REQUIRE(::mkdir(folder.c_str(), 0755) == 0);
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0644) == 0);
  for (const char* key : {"folder", "fifo"}) {
    const Status s = tier.get(key).status();
    BOOST_TEST(s.code() == StatusCode::kIoError);
    BOOST_TEST(s.message().find(tier.path_of(key)) != std::string::npos);
    BOOST_TEST(tier.size(key).status().code() == StatusCode::kIoError);  // never blocks on the FIFO
  }
  BOOST_TEST(tier.put("folder", "x").code() == StatusCode::kIoError);  // a rename onto a folder
  struct stat st;
  BOOST_TEST((::stat(folder.c_str(), &st) == 0 && S_ISDIR(st.st_mode)));
  BOOST_TEST((::stat(fifo.c_str(), &st) == 0 && S_ISFIFO(st.st_mode)));
}

BOOST_AUTO_TEST_CASE(a_killed_writers_temporary_file_is_removed_at_start) {
  testing::TempDir dir;
  const std::string stale = DiskTier(dir.path, ".pcm").path_of("k") + ".tmp-AbC123";
  std::ofstream(stale) << "half a value";
  const timeval old[2] = {{1, 0}, {1, 0}};  // written long ago, by a writer now dead (no flock)
  BOOST_REQUIRE(::utimes(stale.c_str(), old) == 0);
  DiskTier tier(dir.path, ".pcm");
  BOOST_TEST(::access(stale.c_str(), F_OK) != 0);
  BOOST_TEST(tier.get("k").status().code() == StatusCode::kNotFound);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace pcache
