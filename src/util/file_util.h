// Small file helpers that report failures as Status, and that are safe on
// whatever a path names: every reader of outside bytes opens through them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "pcache/status.h"

namespace pcache {

// Opens `path` read-only, non-blocking (so that a FIFO never blocks the open)
// and close-on-exec, and checks with fstat that it is a regular file. Returns
// the descriptor, which the caller closes. Errors: NotFound; IoError naming
// the path and what it is instead ("is a FIFO, not a regular file"; a
// directory, a device, a socket) or the OS error. `size`, when given, gets
// the size fstat saw.
StatusOr<int> open_regular_file(const std::string& path, uint64_t* size = nullptr);

// The whole of a regular file of at most `max_bytes` bytes. Files whose size
// the kernel does not know in advance (/proc) are read up to the limit and
// refused beyond it, so nothing is ever read without a bound.
// Errors: those of open_regular_file; InvalidArgument "path: more than
// <max_bytes> bytes (the limit for <what>)"; IoError for a failed read.
StatusOr<std::string> read_file(const std::string& path, size_t max_bytes, const std::string& what);

// Removes `path` and everything under it; ok when it does not exist.
// (POSIX nftw rather than std::filesystem::remove_all: PyTorch's wheels export
// an older libstdc++'s filesystem symbols that crash when called from here.)
Status remove_tree(const std::string& path);

// A read-only memory map of a whole regular file (opened as open_regular_file
// does). Move-only; unmaps on destruction. Mapping reserves address space but
// reads nothing: callers check the size they need before touching pages.
class MappedFile {
 public:
  // Errors: those of open_regular_file; IoError when mmap fails.
  static StatusOr<MappedFile> open(const std::string& path);
  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void reset();
  std::string path_;
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace pcache
