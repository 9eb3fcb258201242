// DiskTier: a ByteTier on a local folder, one file per key, so that the
// module store keeps its disk files through the same interface as its remote
// tier (byte_tier.h) and both hold the module codec's bytes (module_codec.h).
//
// A value lives in DIR/<XXH64 of the key as 16 hex digits><extension>
// (docs/formats.md, "Module cache files": the extension is
// module_file_format::kExtension for the module store). A put writes a
// temporary file, fsyncs it, renames it onto the value's name and syncs the
// folder (AtomicFileWriter), so a reader sees the old value or the whole new
// one, never a part, in this process, in another, or after a crash.
//
// The tier does not check what a file holds: the codec does (its checksum
// and key), and a caller that finds a value damaged erases it. Errors:
// NotFound (no file); IoError naming the path for a file that cannot be
// read or written (a full disk; a folder or a FIFO under the name, which is
// never removed, as pcache never writes one).
//
// Thread-safe: calls on one key at once never leave a partial file (the last
// rename wins); an erase may race a put of the same key and remove the new
// value, which then is a miss, never a wrong value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cache/byte_tier.h"

namespace pcache {

class DiskTier final : public ByteTier {
 public:
  // Creates `dir` (and its parents) if needed and removes the temporary
  // files of writers that were killed (remove_stale_temp_files). A folder
  // that cannot be created shows as the IoError of the first put.
  DiskTier(std::string dir, std::string extension);

  // The file's memory map: nothing is read until the caller reads it.
  StatusOr<TierValue> get(const std::string& key) override;
  StatusOr<int64_t> size(const std::string& key) override;
  Status put(const std::string& key, std::string_view value) override;
  Status erase(const std::string& key) override;

  // The file that holds (or would hold) the value under `key`.
  std::string path_of(const std::string& key) const;
  const std::string& dir() const { return dir_; }

 private:
  const std::string dir_;
  const std::string extension_;
};

}  // namespace pcache
