// ByteTier: a place that keeps values (bytes) under string keys, as LevelDB's
// Env keeps files: the module store's remote tier (RemoteTier, on Redis) is
// one, and the store and saved states use it through this interface alone,
// so that what they keep there is the same codec's bytes (module_codec.h,
// snapshot files) whatever holds them. No libtorch here: bytes in, bytes out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pcache/status.h"
#include "util/file_util.h"

namespace pcache {

// A value a tier returned, read-only: bytes it holds (Redis's reply) or a
// memory map of a file, so that a file is never read before its reader has
// checked the sizes it claims (a sparse file of terabytes costs nothing).
// Move-only.
class TierValue {
 public:
  explicit TierValue(std::string bytes) : bytes_(std::move(bytes)) {}
  explicit TierValue(MappedFile file) : file_(std::move(file)), mapped_(true) {}

  const unsigned char* data() const {
    return mapped_ ? file_.data() : reinterpret_cast<const unsigned char*>(bytes_.data());
  }
  size_t size() const { return mapped_ ? file_.size() : bytes_.size(); }
  std::string_view view() const { return {reinterpret_cast<const char*>(data()), size()}; }
  bool operator==(std::string_view other) const { return view() == other; }

 private:
  std::string bytes_;
  MappedFile file_;
  bool mapped_ = false;
};

// Contract for every implementation:
// - Thread-safe: every method may be called from several threads at once.
// - A value is published whole or not at all: get() returns exactly the
//   bytes of one put() (the latest one, or an older one while a newer put is
//   under way), never a mix of two, never a part.
// - Errors: NotFound (no value under the key), IoError (the tier cannot be
//   reached or answered too slowly: the caller goes on without it),
//   ResourceExhausted (the tier is full), Corruption (what is stored is not
//   a value this interface wrote; the tier has removed it).
class ByteTier {
 public:
  virtual ~ByteTier() = default;

  // The value under `key`.
  virtual StatusOr<TierValue> get(const std::string& key) = 0;
  // The size in bytes of the value under `key`, without reading it.
  virtual StatusOr<int64_t> size(const std::string& key) = 0;
  // Stores `value` under `key`, replacing what was there.
  virtual Status put(const std::string& key, std::string_view value) = 0;
  // Removes the value under `key`; OK when there is none.
  virtual Status erase(const std::string& key) = 0;
};

}  // namespace pcache
