#include "util/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <cstring>
#include <utility>

namespace pcache {

namespace {

constexpr char kTempInfix[] = ".tmp-";
constexpr size_t kTempInfixBytes = sizeof kTempInfix - 1;
constexpr size_t kTempSuffixBytes = kTempInfixBytes + 6;  // ".tmp-" and mkstemp's six characters

Status errno_error(const std::string& path, const std::string& what) {
  return Status::io_error(path + ": " + what + ": " + std::strerror(errno));
}

bool is_temp_name(const std::string& name, const std::string& prefix) {
  if (name.size() < prefix.size() + kTempSuffixBytes || name.compare(0, prefix.size(), prefix) != 0) {
    return false;
  }
  return name.compare(name.size() - kTempSuffixBytes, kTempInfixBytes, kTempInfix) == 0;
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path, DirSync dir_sync)
    : final_path_(std::move(path)), dir_sync_(dir_sync) {}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_path_.empty()) ::unlink(temp_path_.c_str());
}

Status AtomicFileWriter::open() {
  if (fd_ >= 0 || !temp_path_.empty()) {
    return Status::failed_precondition(final_path_ + ": AtomicFileWriter opened twice");
  }
  std::string name = final_path_ + ".tmp-XXXXXX";
  fd_ = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd_ < 0) return errno_error(name, "cannot create");
  temp_path_ = std::move(name);
  // Held until commit() or the destructor: a dead writer's file is free.
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) return errno_error(temp_path_, "cannot lock");
  return Status::ok_status();
}

Status AtomicFileWriter::write(const void* data, size_t n) {
  if (fd_ < 0 || synced_) {
    return Status::failed_precondition(final_path_ + ": write to a file not open or already synced");
  }
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno_error(temp_path_, "write failed");
    }
    p += w;
    n -= static_cast<size_t>(w);
    bytes_ += w;
  }
  return Status::ok_status();
}

// Data on disk before the name: a crash leaves the old file or the new whole one.
Status AtomicFileWriter::sync() {
  if (fd_ < 0 || synced_) {
    return Status::failed_precondition(final_path_ + ": sync of a file not open or already synced");
  }
  if (::fsync(fd_) != 0) return errno_error(temp_path_, "fsync failed");
  synced_ = true;
  return Status::ok_status();
}

Status AtomicFileWriter::commit() {
  if (temp_path_.empty()) {
    return Status::failed_precondition(final_path_ +
                                       ": commit of a file not opened or already committed");
  }
  if (!synced_) PCACHE_RETURN_IF_ERROR(sync());
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    return errno_error(temp_path_, "cannot rename to " + final_path_);
  }
  temp_path_.clear();
  // The data was synced: a failed close loses nothing, but is reported.
  if (::close(std::exchange(fd_, -1)) != 0) return errno_error(final_path_, "close failed");
  if (dir_sync_ == DirSync::kBestEffort) sync_parent_directory(final_path_);
  return Status::ok_status();
}

void sync_parent_directory(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

int remove_stale_temp_files(const std::string& dir, const std::string& name_prefix) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  const std::time_t now = std::time(nullptr);
  int removed = 0;
  while (const dirent* entry = ::readdir(d)) {
    const std::string name = entry->d_name;
    if (!is_temp_name(name, name_prefix)) continue;
    const std::string path = dir + "/" + name;
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && now - st.st_mtime >= kStaleTempAgeSeconds &&
        ::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::unlink(path.c_str()) == 0) {
      ++removed;
    }
    ::close(fd);
  }
  ::closedir(d);
  return removed;
}

}  // namespace pcache
