// ModuleStore: the encoded K/V of prompt modules, kept on the compute device
// within a byte budget, spilled least-recently-used to host memory and then
// to a cache directory on disk, and brought back on demand; optionally read
// through from and written behind to a remote tier that other engines share
// (ModuleStoreOptions::remote, docs/architecture.md "Remote tier").
//
// Keys are content hashes: a ModuleKey says which model, schema and module an
// entry belongs to, and `content` is a hash of everything the entry's K/V
// depends on (tokens, positions, encoding mode, what it attended to), so a
// changed schema misses only for the modules whose inputs changed.
//
// Thread-safe: every method may be called from several threads at once.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cache/byte_tier.h"
#include "cache/disk_tier.h"
#include "cache/module_kv.h"
#include "cache/write_behind.h"
#include "pcache/cache_stats.h"
#include "pcache/status.h"

namespace pcache {

enum class Tier { kDevice, kHost, kDisk };

struct ModuleStoreOptions {
  at::Device device = at::kCPU;  // the compute device (the "device" tier lives here)
  int64_t device_budget_bytes = 1ll << 30;
  int64_t host_budget_bytes = 4ll << 30;  // ignored when device is the CPU (one tier in memory)
  std::string disk_dir;           // empty: no disk tier (entries evicted from host are dropped)
  double max_pinned_share = 0.5;  // pinned bytes at most this share of the device budget
  // Store K/V below the device tier (host memory, disk files, remote values) as per-channel
  // int8 (cache/int8_quant.h), dequantized to the entry's dtype when brought back
  // to the device: about a quarter of float32's bytes, half of bfloat16's, at
  // most half a quantization step of error per element. host_bytes counts the
  // quantized bytes. An entry holding inf or NaN is kept unquantized.
  bool int8_tiers = false;
  // A tier shared with other engines (a RemoteTier on Redis), below disk:
  // read on a miss of the local tiers, written behind (on a thread of the
  // store's) after every put. Null: none. Local pins and budgets do not
  // apply to it: its eviction is its own (Redis's maxmemory-policy, TTL).
  std::shared_ptr<ByteTier> remote;
  // Remote writes waiting at most; beyond, a put's remote write is dropped
  // (counted in remote_writes_dropped).
  int remote_queue_jobs = 64;
};

using ModuleStoreStats = CacheStats;

class ModuleStore {
 public:
  explicit ModuleStore(ModuleStoreOptions options);
  ~ModuleStore();

  // The entry on the compute device, moved up from host or disk if needed.
  // With a disk_dir, entries written by earlier processes are found there too
  // (a disk file is checked: magic, version, key, shapes, checksum; a bad one
  // is deleted, counted in corrupt_files, and reported as a miss; what cannot
  // be read as a file, a folder or a FIFO under the name, is counted and left).
  // Then, with a remote tier, the value under the entry's remote key
  // (remote_keys.h) is read (outside the store's lock), checked as a disk
  // file is, and kept like a put's entry (a disk file too) but not written
  // back; a damaged, cut or foreign value is removed from the remote tier and
  // counted in remote_corrupt, an unreachable tier in remote_errors, both
  // misses. Returns nullptr on a miss. Neither the disk nor the remote tier
  // ever makes it fail: errors are those of the device (out of memory).
  StatusOr<std::shared_ptr<const ModuleKV>> get(const ModuleKey& key);

  // Stores a copy of `kv` on the compute device (so `kv` may view buffers
  // that change afterwards, a KV cache's say) under `key`,
  // replacing any entry with that key; with a disk_dir it is also written
  // there at once (temp file, fsync, rename, folder fsync), so other processes
  // and later runs find it; a write that fails (a full disk) is counted in
  // disk_write_failures and the entry kept in memory only. Then evicts least
  // recently used entries until the budgets hold. With a remote tier, a job
  // is queued that encodes the entry and puts it there from another thread
  // (unless it is there already): put never waits for Redis, and a remote
  // failure is counted, never returned. Entries in use by a caller
  // (shared_ptr still held) stay valid after eviction. Errors: InvalidArgument
  // when kv's shapes are inconsistent.
  //
  // The constructor creates disk_dir if needed and removes the temporary
  // files of writers that were killed (remove_stale_temp_files).
  Status put(const ModuleKey& key, ModuleKV kv);

  // Pins every present and future entry whose key's schema is `schema` and,
  // when `module` is not empty, whose module path is `module` or below it:
  // pinned entries are never evicted from the device. Error:
  // ResourceExhausted when pinned bytes would exceed max_pinned_share of the
  // device budget (nothing is pinned then).
  Status pin(const std::string& schema, const std::string& module = "");
  void unpin(const std::string& schema, const std::string& module = "");

  // Waits until the remote writes queued so far have been tried (for a
  // graceful shutdown, and tests). Returns at once without a remote tier.
  void flush_remote_writes();

  // Which tier holds the entry, or nullopt.
  std::optional<Tier> tier_of(const ModuleKey& key) const;
  ModuleStoreStats stats() const;
  const ModuleStoreOptions& options() const { return options_; }

 private:
  // The entry from the device, host or disk tier (counted as a hit), or null
  // (not counted). Called with mu_ held.
  std::shared_ptr<const ModuleKV> get_local(const ModuleKey& key, const std::string& name);
  // The entry from the remote tier, kept locally, or null. Called without mu_.
  std::shared_ptr<const ModuleKV> get_remote(const ModuleKey& key, const std::string& name);
  // Makes `stored` (the store's own packed copy) the entry `name`: its disk
  // file written (with a disk_dir), a remote write queued when asked, then
  // placed on the device tier. Called without mu_.
  void keep(const ModuleKey& key, const std::string& name, std::shared_ptr<const ModuleKV> stored,
            bool write_behind);

  ModuleStoreOptions options_;
  mutable std::mutex mu_;
  std::unique_ptr<struct ModuleStoreState> state_;
  // The disk tier (a DiskTier on disk_dir), or null without a disk_dir.
  std::unique_ptr<DiskTier> disk_;
  // Declared last: destroyed (its queue run, its thread joined) first.
  std::unique_ptr<WriteBehind> write_behind_;
};

}  // namespace pcache
