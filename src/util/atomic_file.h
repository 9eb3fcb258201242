// Writing a file so that it appears whole under its name or not at all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "pcache/status.h"

struct XXH64_state_s;  // xxhash.h stays out of this header

namespace pcache {

// Writes a file under a temporary name in its final directory, `path` +
// ".tmp-XXXXXX" (made by mkstemp, so mode 0600), and renames it onto `path`
// at commit(): a crash or a failure never leaves a partial file under `path`,
// which holds the old file or the whole new one.
//
//   AtomicFileWriter file(path);
//   PCACHE_RETURN_IF_ERROR(file.open());
//   PCACHE_RETURN_IF_ERROR(file.write(data, n));  // any number of times
//   PCACHE_RETURN_IF_ERROR(file.sync_and_close());
//   PCACHE_RETURN_IF_ERROR(file.commit());
//
// sync_and_close() and commit() are apart so that a caller can write and sync
// outside a lock and make the file visible (the rename) under it; commit()
// calls sync_and_close() itself when the file is still open.
//
// Ownership: the writer owns its descriptor and its temporary file. Until
// commit() succeeds, the destructor closes the one and unlinks the other, so
// a writer given up on (after an error, or never committed) leaves nothing
// behind. The directory must exist; nothing is created but the file.
// Neither copyable nor movable (hold it in a std::optional to defer it).
//
// Errors: IoError with the file named and strerror(errno), as in
// "<path>.tmp-a1B2c3: write failed: No space left on device" (the temporary
// name begins with `path`); FailedPrecondition for calls out of order.
//
// Thread-compatible: one writer is used by one thread at a time. Writers for
// the same path do not clash (each has its own temporary name); the last
// commit() wins.
class AtomicFileWriter {
 public:
  // Whether commit() then syncs the directory, so that the rename itself
  // survives a crash (the file is complete under its name either way).
  enum class DirSync {
    kNo,          // the rename may be lost in a crash: `path` then holds the old file
    kBestEffort,  // fsync the directory; a failure to is not reported
  };

  explicit AtomicFileWriter(std::string path, DirSync dir_sync = DirSync::kBestEffort);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  // Creates the temporary file. Errors: IoError "<temp>: cannot create: ..."
  // (a missing directory, say); FailedPrecondition when already opened.
  Status open();

  // Writes all `n` bytes (retrying short writes and EINTR).
  // Errors: IoError "<temp>: write failed: ..."; FailedPrecondition when not open.
  Status write(const void* data, size_t n);

  // fsyncs and closes the file: its data is on disk before its name (commit()).
  // The descriptor is closed even on failure. Errors: IoError "<temp>: fsync
  // failed: ..." or "<temp>: close failed: ..."; FailedPrecondition when not open.
  Status sync_and_close();

  // Renames the file onto `path` (replacing any file there), after
  // sync_and_close() when the file is still open, then syncs the directory as
  // `dir_sync` says. Errors: those of sync_and_close(); IoError "<temp>: cannot
  // rename to <path>: ..."; FailedPrecondition when not opened or already committed.
  Status commit();

  // Bytes written so far.
  int64_t bytes() const { return bytes_; }
  // The final name.
  const std::string& path() const { return final_path_; }
  // The temporary name: empty before open() and after commit().
  const std::string& temp_path() const { return temp_path_; }

 private:
  std::string final_path_, temp_path_;
  DirSync dir_sync_;
  int fd_ = -1;
  int64_t bytes_ = 0;
};

// Writes through an AtomicFileWriter while hashing what it writes (XXH64),
// so that a file can end with the checksum of its contents. Not thread-safe.
class ChecksummedWriter {
 public:
  ChecksummedWriter(AtomicFileWriter& file, uint64_t seed);
  ~ChecksummedWriter();
  ChecksummedWriter(const ChecksummedWriter&) = delete;
  ChecksummedWriter& operator=(const ChecksummedWriter&) = delete;

  // Writes and hashes `n` bytes.
  Status write(const void* data, size_t n);
  // Writes the digest of everything write() wrote: u64, host (little-endian) order.
  Status finish();

 private:
  AtomicFileWriter& file_;
  ::XXH64_state_s* state_;
};

}  // namespace pcache
