#include "util/file_util.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <string>

#include "testing.h"

namespace pcache {
namespace {

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

bool contains(const Status& s, const std::string& what) {
  return s.message().find(what) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(file_util_test)

BOOST_AUTO_TEST_CASE(reads_a_regular_file_within_its_limit) {
  testing::TempDir dir;
  write(dir.path + "/a", "hello");
  auto text = read_file(dir.path + "/a", 5, "test files");
  BOOST_REQUIRE(text.ok());
  BOOST_TEST(*text == "hello");
  auto empty = (write(dir.path + "/e", ""), read_file(dir.path + "/e", 5, "test files"));
  BOOST_REQUIRE(empty.ok());
  BOOST_TEST(empty->empty());
}

BOOST_AUTO_TEST_CASE(refuses_a_file_over_its_limit_naming_it) {
  testing::TempDir dir;
  write(dir.path + "/a", "hello!");
  auto text = read_file(dir.path + "/a", 5, "test files");
  BOOST_REQUIRE(!text.ok());
  BOOST_TEST(text.status().code() == StatusCode::kInvalidArgument);
  BOOST_TEST(contains(text.status(), dir.path + "/a: more than 5 bytes (the limit for test files)"));
}

BOOST_AUTO_TEST_CASE(a_fifo_is_refused_at_once_not_waited_on) {
  testing::TempDir dir;
  const std::string fifo = dir.path + "/fifo";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto text = read_file(fifo, 100, "test files");  // a blocking open would hang here
  BOOST_REQUIRE(!text.ok());
  BOOST_TEST(contains(text.status(), "is a FIFO, not a regular file"));
  auto mapped = MappedFile::open(fifo);
  BOOST_REQUIRE(!mapped.ok());
  BOOST_TEST(contains(mapped.status(), "is a FIFO, not a regular file"));
}

BOOST_AUTO_TEST_CASE(devices_and_directories_are_refused) {
  testing::TempDir dir;
  for (const char* device : {"/dev/zero", "/dev/urandom", "/dev/null"}) {
    auto text = read_file(device, 100, "test files");
    BOOST_REQUIRE(!text.ok());
    BOOST_TEST(contains(text.status(), "is a character device, not a regular file"));
  }
  auto folder = read_file(dir.path, 100, "test files");
  BOOST_REQUIRE(!folder.ok());
  BOOST_TEST(contains(folder.status(), "is a directory, not a regular file"));
  BOOST_TEST(!MappedFile::open(dir.path).ok());
}

BOOST_AUTO_TEST_CASE(a_file_of_unknown_size_is_read_only_up_to_the_limit) {
  // /proc files report size 0: the limit, not the size, bounds the read.
  auto small = read_file("/proc/self/stat", 1 << 20, "test files");
  BOOST_REQUIRE(small.ok());
  BOOST_TEST(!small->empty());
  auto capped = read_file("/proc/self/stat", 4, "test files");
  BOOST_REQUIRE(!capped.ok());
  BOOST_TEST(contains(capped.status(), "more than 4 bytes"));
}

BOOST_AUTO_TEST_CASE(missing_files_are_not_found) {
  testing::TempDir dir;
  BOOST_TEST(read_file(dir.path + "/none", 5, "x").status().code() == StatusCode::kNotFound);
  BOOST_TEST(MappedFile::open(dir.path + "/none").status().code() == StatusCode::kNotFound);
  BOOST_TEST(read_file(dir.path + "/none/deeper", 5, "x").status().code() == StatusCode::kNotFound);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
