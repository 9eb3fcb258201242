#include "util/atomic_file.h"

#include <dirent.h>
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "testing.h"
#include "util/file_util.h"

namespace pcache {
namespace {

// The names in `dir`, less "." and "..".
std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  BOOST_REQUIRE(d != nullptr);
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(atomic_file_test)

BOOST_AUTO_TEST_CASE(commit_writes_the_content_and_leaves_no_temp_file) {
  testing::TempDir dir;
  const std::string path = dir.path + "/out.bin";
  const std::string content("hello\0world", 11);
  {
    AtomicFileWriter file(path);
    BOOST_TEST_REQUIRE(file.open().ok());
    BOOST_TEST(file.temp_path().rfind(path + ".tmp-", 0) == 0);
    BOOST_TEST(!exists(path));  // not visible before the commit
    BOOST_TEST_REQUIRE(file.write(content.data(), 5).ok());
    BOOST_TEST_REQUIRE(file.write(content.data() + 5, content.size() - 5).ok());
    BOOST_TEST(file.bytes() == 11);
    BOOST_TEST_REQUIRE(file.sync_and_close().ok());
    Status s = file.commit();
    BOOST_TEST_REQUIRE(s.ok(), s.to_string());
    BOOST_TEST(file.temp_path().empty());
    BOOST_TEST(file.commit().code() == StatusCode::kFailedPrecondition);
  }
  StatusOr<std::string> read = read_file(path, 1u << 30, "test files");
  BOOST_TEST_REQUIRE(read.ok());
  BOOST_TEST(read.value() == content);
  BOOST_TEST(list_dir(dir.path) == std::vector<std::string>{"out.bin"});
}

BOOST_AUTO_TEST_CASE(commit_replaces_a_file_and_syncs_when_still_open) {
  testing::TempDir dir;
  const std::string path = dir.path + "/out.txt";
  for (const std::string content : {"first version", "second"}) {
    AtomicFileWriter file(path, AtomicFileWriter::DirSync::kNo);
    BOOST_TEST_REQUIRE(file.open().ok());
    BOOST_TEST_REQUIRE(file.write(content.data(), content.size()).ok());
    BOOST_TEST_REQUIRE(file.commit().ok());  // without sync_and_close() first
    BOOST_TEST(read_file(path, 1u << 30, "test files").value() == content);
  }
  BOOST_TEST(list_dir(dir.path) == std::vector<std::string>{"out.txt"});
}

BOOST_AUTO_TEST_CASE(no_commit_leaves_no_file_and_no_temp) {
  testing::TempDir dir;
  const std::string path = dir.path + "/out.bin";
  {
    AtomicFileWriter file(path);
    BOOST_TEST_REQUIRE(file.open().ok());
    BOOST_TEST_REQUIRE(file.write("partial", 7).ok());
    BOOST_TEST(exists(file.temp_path()));
  }
  {
    AtomicFileWriter file(path);  // closed, never renamed
    BOOST_TEST_REQUIRE(file.open().ok());
    BOOST_TEST_REQUIRE(file.write("partial", 7).ok());
    BOOST_TEST_REQUIRE(file.sync_and_close().ok());
  }
  BOOST_TEST(list_dir(dir.path).empty());
}

BOOST_AUTO_TEST_CASE(missing_folder_is_an_io_error_naming_the_path) {
  testing::TempDir dir;
  const std::string path = dir.path + "/missing/out.bin";
  AtomicFileWriter file(path);
  Status s = file.open();
  BOOST_TEST(s.code() == StatusCode::kIoError);
  BOOST_TEST(s.message().find(path) != std::string::npos, s.message());
  BOOST_TEST(s.message().find("cannot create") != std::string::npos, s.message());
  BOOST_TEST(file.write("x", 1).code() == StatusCode::kFailedPrecondition);
  BOOST_TEST(file.commit().code() == StatusCode::kFailedPrecondition);
  BOOST_TEST(list_dir(dir.path).empty());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
