#include "util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "xxhash.h"

namespace pcache {

namespace {

Status errno_error(const std::string& path, const std::string& what) {
  return Status::io_error(path + ": " + what + ": " + std::strerror(errno));
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
  fd_ = ::mkstemp(name.data());
  if (fd_ < 0) return errno_error(name, "cannot create");
  temp_path_ = std::move(name);
  return Status::ok_status();
}

Status AtomicFileWriter::write(const void* data, size_t n) {
  if (fd_ < 0) return Status::failed_precondition(final_path_ + ": write to a file not open");
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
Status AtomicFileWriter::sync_and_close() {
  if (fd_ < 0) return Status::failed_precondition(final_path_ + ": sync of a file not open");
  int fd = std::exchange(fd_, -1);
  if (::fsync(fd) != 0) {
    Status s = errno_error(temp_path_, "fsync failed");
    ::close(fd);
    return s;
  }
  if (::close(fd) != 0) return errno_error(temp_path_, "close failed");
  return Status::ok_status();
}

Status AtomicFileWriter::commit() {
  if (temp_path_.empty()) {
    return Status::failed_precondition(final_path_ +
                                       ": commit of a file not opened or already committed");
  }
  if (fd_ >= 0) PCACHE_RETURN_IF_ERROR(sync_and_close());
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    return errno_error(temp_path_, "cannot rename to " + final_path_);
  }
  temp_path_.clear();
  if (dir_sync_ == DirSync::kBestEffort) {
    // The rename itself lasts once the directory is synced. Best effort: the
    // file is complete under its name either way.
    const size_t slash = final_path_.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : final_path_.substr(0, slash + 1);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
  }
  return Status::ok_status();
}

ChecksummedWriter::ChecksummedWriter(AtomicFileWriter& file, uint64_t seed)
    : file_(file), state_(XXH64_createState()) {
  if (!state_) throw std::bad_alloc();
  XXH64_reset(state_, seed);
}

ChecksummedWriter::~ChecksummedWriter() { XXH64_freeState(state_); }

Status ChecksummedWriter::write(const void* data, size_t n) {
  XXH64_update(state_, data, n);
  return file_.write(data, n);
}

Status ChecksummedWriter::finish() {
  const uint64_t digest = XXH64_digest(state_);
  return file_.write(&digest, sizeof digest);
}

}  // namespace pcache
