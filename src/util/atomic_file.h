// Writing a file so that it appears whole under its name or not at all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "pcache/status.h"
#include "util/byte_sink.h"

namespace pcache {

// Writes a file under a temporary name in its final directory, `path` +
// ".tmp-XXXXXX" (made by mkstemp, so mode 0600), and renames it onto `path`
// at commit(): a crash or a failure never leaves a partial file under `path`,
// which holds the old file or the whole new one.
//
//   AtomicFileWriter file(path);
//   PCACHE_RETURN_IF_ERROR(file.open());
//   PCACHE_RETURN_IF_ERROR(file.write(data, n));  // any number of times
//   PCACHE_RETURN_IF_ERROR(file.sync());
//   PCACHE_RETURN_IF_ERROR(file.commit());
//
// sync() and commit() are apart so that a caller can write and sync outside a
// lock and make the file visible (the rename) under it; commit() calls sync()
// itself when it was not called.
//
// Ownership: the writer owns its descriptor and its temporary file. Until
// commit() succeeds, the destructor closes the one and unlinks the other, so
// a writer given up on (after an error, or never committed) leaves nothing
// behind. A process killed while writing does leave its temporary file:
// the writer holds an exclusive flock on it from open() to commit(), by which
// remove_stale_temp_files() below tells a dead writer's file from a live one.
// The directory must exist; nothing is created but the file.
// Neither copyable nor movable (hold it in a std::optional to defer it).
//
// Errors: IoError with the file named and strerror(errno), as in
// "<path>.tmp-a1B2c3: write failed: No space left on device" (the temporary
// name begins with `path`); FailedPrecondition for calls out of order.
//
// Thread-compatible: one writer is used by one thread at a time. Writers for
// the same path do not clash (each has its own temporary name); the last
// commit() wins.
class AtomicFileWriter final : public ByteSink {
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

  // Creates the temporary file and locks it. Errors: IoError "<temp>: cannot
  // create: ..." (a missing directory, say); FailedPrecondition when already opened.
  Status open();

  // Writes all `n` bytes (retrying short writes and EINTR).
  // Errors: IoError "<temp>: write failed: ..."; FailedPrecondition when not open.
  Status write(const void* data, size_t n) override;

  // fsyncs the file: its data is on disk before its name (commit()). No
  // write() may follow. The descriptor stays open, holding the lock, until
  // commit(). Errors: IoError "<temp>: fsync failed: ..."; FailedPrecondition
  // when not open or already synced.
  Status sync();

  // Renames the file onto `path` (replacing any file there), after sync() when
  // it was not called, closes it, then syncs the directory as `dir_sync` says.
  // Errors: those of sync(); IoError "<temp>: cannot rename to <path>: ..." or
  // "<path>: close failed: ..."; FailedPrecondition when not opened or already
  // committed.
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
  bool synced_ = false;
  int64_t bytes_ = 0;
};

// fsyncs the directory that holds `path`, so that a rename into it survives a
// crash. Best effort: a failure is not reported (the file is whole under
// whichever name the directory keeps).
void sync_parent_directory(const std::string& path);

// Temporary files of AtomicFileWriter that a killed process left in `dir`:
// "<name>.tmp-XXXXXX" for names beginning with `name_prefix` (every name when
// empty). Removes those no live writer holds (the flock open() takes is free)
// and that were not modified in the last kStaleTempAgeSeconds (which covers a
// writer between mkstemp and its flock). Returns how many it removed; a
// directory it cannot read counts as none. Safe with writers in other
// processes at work on the same names.
inline constexpr int kStaleTempAgeSeconds = 10;
int remove_stale_temp_files(const std::string& dir, const std::string& name_prefix = "");


}  // namespace pcache
