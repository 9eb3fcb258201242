// ByteSink: where an encoder writes its bytes, so that one encoder of a
// format (module files, snapshots) writes a file (AtomicFileWriter) or a
// buffer in memory (StringSink, for the remote tier) alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "pcache/status.h"

struct XXH64_state_s;  // xxhash.h stays out of this header

namespace pcache {

// Takes bytes in order. Errors are the sink's (IoError for a file).
// Thread-compatible: one writer at a time.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Writes all `n` bytes.
  virtual Status write(const void* data, size_t n) = 0;
};

// Appends to a string it owns; never fails (std::bad_alloc aside).
class StringSink final : public ByteSink {
 public:
  Status write(const void* data, size_t n) override {
    bytes_.append(static_cast<const char*>(data), n);
    return Status::ok_status();
  }
  // The bytes written so far, moved out (the sink is empty afterwards).
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

// Writes through another sink while hashing what it writes (XXH64), so that
// a format can end with the checksum of its contents. Not thread-safe.
class ChecksummedWriter {
 public:
  ChecksummedWriter(ByteSink& sink, uint64_t seed);
  ~ChecksummedWriter();
  ChecksummedWriter(const ChecksummedWriter&) = delete;
  ChecksummedWriter& operator=(const ChecksummedWriter&) = delete;

  // Writes and hashes `n` bytes.
  Status write(const void* data, size_t n);
  // Writes the digest of everything write() wrote: u64, host (little-endian) order.
  Status finish();

 private:
  ByteSink& sink_;
  ::XXH64_state_s* state_;
};

}  // namespace pcache
