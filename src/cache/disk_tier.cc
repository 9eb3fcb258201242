#include "cache/disk_tier.h"

#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "util/atomic_file.h"
#include "util/file_util.h"

namespace pcache {

namespace {

// mkdir -p. Failures show when the first file cannot be created.
void make_dirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') ::mkdir(dir.substr(0, i).c_str(), 0755);
  }
}

}  // namespace

DiskTier::DiskTier(std::string dir, std::string extension)
    : dir_(std::move(dir)), extension_(std::move(extension)) {
  make_dirs(dir_);
  remove_stale_temp_files(dir_);  // of writers killed before
}

std::string DiskTier::path_of(const std::string& key) const {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016" PRIx64, XXH64(key.data(), key.size(), 0));
  return dir_ + "/" + hex + extension_;
}

StatusOr<TierValue> DiskTier::get(const std::string& key) {
  PCACHE_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path_of(key)));
  return TierValue(std::move(file));
}

StatusOr<int64_t> DiskTier::size(const std::string& key) {
  uint64_t bytes = 0;
  PCACHE_ASSIGN_OR_RETURN(int fd, open_regular_file(path_of(key), &bytes));
  ::close(fd);
  return static_cast<int64_t>(bytes);
}

Status DiskTier::put(const std::string& key, std::string_view value) {
  AtomicFileWriter file(path_of(key));
  PCACHE_RETURN_IF_ERROR(file.open());
  PCACHE_RETURN_IF_ERROR(file.write(value.data(), value.size()));
  return file.commit();
}

Status DiskTier::erase(const std::string& key) {
  const std::string path = path_of(key);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::io_error(path + ": cannot remove: " + std::strerror(errno));
  }
  return Status::ok_status();
}

}  // namespace pcache
