#include "util/file_util.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pcache {
namespace {

Status open_error(const std::string& path, int err) {
  std::string msg = path + ": " + std::strerror(err);
  if (err == ENOENT || err == ENOTDIR) return Status::not_found(msg);
  return Status::io_error(msg);
}

// What a non-regular file is, for the message.
const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a plain file";
}

}  // namespace

StatusOr<int> open_regular_file(const std::string& path, uint64_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return open_error(path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return open_error(path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::io_error(path + ": is " + kind_of(st.st_mode) + ", not a regular file");
  }
  if (size) *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

StatusOr<std::string> read_file(const std::string& path, size_t max_bytes,
                                const std::string& what) {
  uint64_t size = 0;
  PCACHE_ASSIGN_OR_RETURN(const int fd, open_regular_file(path, &size));
  auto too_large = [&] {
    return Status::invalid_argument(path + ": more than " + std::to_string(max_bytes) +
                                    " bytes (the limit for " + what + ")");
  };
  if (size > max_bytes) {
    ::close(fd);
    return too_large();
  }
  // Read to EOF, but never past the limit: the size is 0 for /proc files, and a
  // file may grow while it is read.
  std::string out;
  out.resize(size > 0 ? static_cast<size_t>(size) + 1 : 4096);
  size_t used = 0;
  for (;;) {
    if (used == out.size()) {
      if (used > max_bytes) break;
      out.resize(std::min(out.size() * 2, max_bytes + 1));
    }
    const ssize_t n = ::read(fd, &out[used], out.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return Status::io_error(path + ": read failed: " + std::strerror(err));
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  ::close(fd);
  if (used > max_bytes) return too_large();
  out.resize(used);
  return out;
}

Status remove_tree(const std::string& path) {
  auto remove_one = [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); };
  if (::nftw(path.c_str(), remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT) {
    return Status::io_error(path + ": cannot remove: " + std::strerror(errno));
  }
  return Status::ok_status();
}

StatusOr<MappedFile> MappedFile::open(const std::string& path) {
  uint64_t size = 0;
  PCACHE_ASSIGN_OR_RETURN(const int fd, open_regular_file(path, &size));
  MappedFile f;
  f.path_ = path;
  f.size_ = static_cast<size_t>(size);
  if (f.size_ > 0) {
    void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return Status::io_error(path + ": mmap failed: " + std::strerror(err));
    }
    f.data_ = static_cast<const unsigned char*>(p);
  }
  ::close(fd);  // the mapping keeps the file alive
  return f;
}

MappedFile::MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    reset();
    path_ = std::move(other.path_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

MappedFile::~MappedFile() { reset(); }

void MappedFile::reset() {
  if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace pcache
