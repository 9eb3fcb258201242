// CacheStats: counters of the module store (hits, misses, evictions, bytes
// per tier). A plain value, copied out under the store's lock.
#pragma once

#include <cstdint>

namespace pcache {

struct CacheStats {
  // hits: found in any tier; misses: not found, or found damaged.
  int64_t hits = 0, misses = 0;
  int64_t device_hits = 0, host_hits = 0, disk_hits = 0;
  int64_t evictions_to_host = 0, evictions_to_disk = 0, evictions_dropped = 0;
  // Disk files found damaged, truncated or of another model (removed), or not
  // readable as files (a folder or a FIFO under the name; left).
  int64_t corrupt_files = 0;
  int64_t disk_write_failures = 0;  // entries that could not be written to disk (kept in memory)
  int64_t entries = 0;
  // The remote tier (docs/architecture.md, "Remote tier"): entries found
  // there; values rejected (damaged, cut, another model's: removed and
  // encoded again); reads that failed because Redis was unreachable, late or
  // refused; writes behind stored, failed, dropped (queue full); outages
  // (times Redis stopped answering: each warned about once).
  int64_t remote_hits = 0, remote_corrupt = 0, remote_errors = 0;
  int64_t remote_writes = 0, remote_write_failures = 0, remote_writes_dropped = 0;
  int64_t remote_outages = 0;
  int64_t device_bytes = 0, host_bytes = 0, disk_bytes = 0, pinned_bytes = 0;
};

}  // namespace pcache
