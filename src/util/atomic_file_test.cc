#include "util/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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

// A temporary file as a killed writer leaves it, last modified `age_s` ago.
void leave_temp_file(const std::string& path, int age_s) {
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE(::write(fd, "half", 4) == 4);
  const timespec times[2] = {{::time(nullptr) - age_s, 0}, {::time(nullptr) - age_s, 0}};
  BOOST_REQUIRE(::futimens(fd, times) == 0);
  ::close(fd);
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
    BOOST_TEST_REQUIRE(file.sync().ok());
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
    BOOST_TEST_REQUIRE(file.commit().ok());  // without sync() first
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
    BOOST_TEST_REQUIRE(file.sync().ok());
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

BOOST_AUTO_TEST_CASE(stale_temp_files_of_dead_writers_are_removed_live_ones_kept) {
  testing::TempDir dir;
  leave_temp_file(dir.path + "/a.snap.tmp-Ab12Cd", kStaleTempAgeSeconds + 60);   // dead writer
  leave_temp_file(dir.path + "/a.snap.tmp-fresh1", 0);                          // just created
  leave_temp_file(dir.path + "/b.snap.tmp-Zz9Yy8", kStaleTempAgeSeconds + 60);   // another name
  leave_temp_file(dir.path + "/a.snap.tmp-toolong", kStaleTempAgeSeconds + 60);  // not mkstemp's
  leave_temp_file(dir.path + "/a.snap", kStaleTempAgeSeconds + 60);              // a real file
  // A writer at work (in another process, as far as flock goes).
  leave_temp_file(dir.path + "/a.snap.tmp-Live00", kStaleTempAgeSeconds + 60);
  const int live = ::open((dir.path + "/a.snap.tmp-Live00").c_str(), O_RDONLY | O_CLOEXEC);
  BOOST_REQUIRE(live >= 0);
  BOOST_REQUIRE(::flock(live, LOCK_EX) == 0);

  BOOST_TEST(remove_stale_temp_files(dir.path, "a.snap") == 1);
  BOOST_TEST(!exists(dir.path + "/a.snap.tmp-Ab12Cd"));
  for (const char* kept : {"a.snap.tmp-fresh1", "b.snap.tmp-Zz9Yy8", "a.snap.tmp-toolong", "a.snap",
                           "a.snap.tmp-Live00"}) {
    BOOST_TEST(exists(dir.path + "/" + kept), kept);
  }
  ::close(live);  // the writer died
  BOOST_TEST(remove_stale_temp_files(dir.path) == 2);  // every name: b.snap's and Live00
  BOOST_TEST(list_dir(dir.path).size() == 3u);
  BOOST_TEST(remove_stale_temp_files(dir.path + "/missing") == 0);
}

BOOST_AUTO_TEST_CASE(an_open_writer_holds_its_lock_until_commit) {
  testing::TempDir dir;
  const std::string path = dir.path + "/out.bin";
  AtomicFileWriter file(path);
  BOOST_TEST_REQUIRE(file.open().ok());
  BOOST_TEST_REQUIRE(file.write("whole", 5).ok());
  BOOST_TEST_REQUIRE(file.sync().ok());
  BOOST_TEST(file.write("more", 4).code() == StatusCode::kFailedPrecondition);
  const int probe = ::open(file.temp_path().c_str(), O_RDONLY | O_CLOEXEC);
  BOOST_REQUIRE(probe >= 0);
  BOOST_TEST(::flock(probe, LOCK_EX | LOCK_NB) != 0);  // synced, not yet committed: still held
  ::close(probe);
  BOOST_TEST_REQUIRE(file.commit().ok());
  auto text = read_file(path, 100, "test");
  BOOST_TEST_REQUIRE(text.ok());
  BOOST_TEST(*text == "whole");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
