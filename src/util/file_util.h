// Small file helpers that report failures as Status.
#pragma once

#include <cstddef>
#include <string>

#include "pcache/status.h"

namespace pcache {

// Whole file as a string. Errors: NotFound, IoError (both name the path).
StatusOr<std::string> read_file(const std::string& path);

// Removes `path` and everything under it; ok when it does not exist.
// (POSIX nftw rather than std::filesystem::remove_all: PyTorch's wheels export
// an older libstdc++'s filesystem symbols that crash when called from here.)
Status remove_tree(const std::string& path);

// A read-only memory map of a whole file. Move-only; unmaps on destruction.
class MappedFile {
 public:
  // Errors: NotFound, IoError (both name the path).
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
