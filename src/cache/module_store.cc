#include "cache/module_store.h"

#include <list>
#include <unordered_map>
#include <utility>

#include "cache/kv_dtype.h"
#include "cache/module_codec.h"
#include "cache/module_file_format.h"
#include "cache/remote_keys.h"
#include "cache/tensor_status.h"
#include "util/byte_sink.h"

namespace pcache {

namespace fmt = module_file_format;

namespace {

bool matches(const ModuleKey& key, const std::string& schema, const std::string& module) {
  if (key.schema != schema) return false;
  if (module.empty() || key.module == module) return true;
  return key.module.size() > module.size() && key.module.compare(0, module.size(), module) == 0 &&
         key.module[module.size()] == '/';
}

Status validate(const ModuleKV& kv) {
  const auto t = static_cast<int64_t>(kv.tokens.size());
  if (static_cast<int64_t>(kv.positions.size()) != t) {
    return Status::invalid_argument("ModuleKV: " + std::to_string(kv.tokens.size()) +
                                    " tokens but " + std::to_string(kv.positions.size()) +
                                    " positions");
  }
  if (std::string why = kv_layers_problem(kv.k, kv.v, t); !why.empty()) {
    return Status::invalid_argument("ModuleKV: " + why);
  }
  return Status::ok_status();
}

// The store's own copy on `device`, each side's layers in one fresh buffer:
// an entry holds only its own bytes (never a view into a KV cache), and
// packed_layers finds them together.
std::shared_ptr<const ModuleKV> packed_on(const ModuleKV& kv, at::Device device) {
  auto out = std::make_shared<ModuleKV>();
  out->tokens = kv.tokens;
  out->positions = kv.positions;
  out->k = at::stack(kv.k).to(device).unbind(0);
  out->v = at::stack(kv.v).to(device).unbind(0);
  return out;
}

std::shared_ptr<const ModuleKV> copy_to(const ModuleKV& kv, at::Device device) {
  auto out = std::make_shared<ModuleKV>();
  out->tokens = kv.tokens;
  out->positions = kv.positions;
  for (const auto& t : kv.k) out->k.push_back(t.to(device));
  for (const auto& t : kv.v) out->v.push_back(t.to(device));
  return out;
}

// The entry that `tier` holds under `tier_key` for the store's key `name`
// (module_codec.h's read_module: everything checked), and the value's size;
// a value found damaged (Corruption) is erased from the tier, so that it is
// never read again, here or by another engine sharing the tier. `label`
// names where the bytes came from in messages. Errors: the tier's (NotFound,
// IoError) and the codec's (Corruption).
StatusOr<std::shared_ptr<const ModuleKV>> read_from(ByteTier& tier, const std::string& tier_key,
                                                    const std::string& label,
                                                    const std::string& name, at::Device device,
                                                    int64_t* value_bytes) {
  PCACHE_ASSIGN_OR_RETURN(TierValue bytes, tier.get(tier_key));
  *value_bytes = static_cast<int64_t>(bytes.size());
  auto loaded = read_module(bytes.data(), bytes.size(), label, name, device);
  if (loaded.status().code() == StatusCode::kCorruption) (void)tier.erase(tier_key);
  return loaded;
}

// The entry's bytes in the module codec, as the disk and remote tiers keep them.
StatusOr<std::string> encode(const std::string& name, const ModuleKV& kv, bool int8) {
  StringSink sink;
  PCACHE_RETURN_IF_ERROR(write_module(sink, name, kv, int8));
  return sink.take();
}

}  // namespace

// Everything behind the mutex. An entry is in memory (kv set, on the device
// or host tier, in the LRU list), or on disk only, or both: with a disk_dir
// every entry has a file (written at put), so leaving memory costs no write.
struct ModuleStoreState {
  struct Entry {
    ModuleKey key;
    std::shared_ptr<const ModuleKV> kv;      // null: quantized (qkv) or on disk only
    std::shared_ptr<const QuantizedKV> qkv;  // host tier with int8_tiers (kv null then)
    Tier tier = Tier::kDisk;                 // where kv (or qkv) lives
    int64_t bytes = 0;                       // kv->bytes() (qkv->bytes()) while in memory
    int64_t file_bytes = 0;                  // size of its file; 0: no file known
    bool pinned = false;                     // only on the device tier
    std::list<std::string>::iterator lru;
    bool in_memory() const { return kv || qkv; }
    // Bytes on the device once brought there.
    int64_t device_bytes() const { return qkv ? qkv->device_bytes : bytes; }
  };

  explicit ModuleStoreState(const ModuleStoreOptions& o) : options(o) {}

  int64_t pin_limit() const {
    return static_cast<int64_t>(options.max_pinned_share *
                                static_cast<double>(options.device_budget_bytes));
  }

  bool pin_rule_matches(const ModuleKey& key) const {
    for (const auto& [schema, module] : pins) {
      if (matches(key, schema, module)) return true;
    }
    return false;
  }

  // Puts `kv` on the device tier as e's data, pinned if a rule asks for it
  // and the pinned share allows.
  void place_on_device(Entry& e, std::shared_ptr<const ModuleKV> kv) {
    e.bytes = kv->bytes();
    e.kv = std::move(kv);
    e.tier = Tier::kDevice;
    stats.device_bytes += e.bytes;
    e.pinned = pin_rule_matches(e.key) && stats.pinned_bytes + e.bytes <= pin_limit();
    if (e.pinned) stats.pinned_bytes += e.bytes;
  }

  // A copy of e's data (in memory) on the compute device, dequantized if need be.
  std::shared_ptr<const ModuleKV> device_copy(const Entry& e) const {
    return packed_on(e.qkv ? *dequantize_kv(*e.qkv, options.device) : *e.kv, options.device);
  }

  // Takes e's data out of the memory tiers' accounting (not out of the LRU list).
  void unaccount_memory(Entry& e) {
    (e.tier == Tier::kDevice ? stats.device_bytes : stats.host_bytes) -= e.bytes;
    if (e.pinned) stats.pinned_bytes -= e.bytes;
    e.pinned = false;
    e.kv.reset();
    e.qkv.reset();
    e.tier = Tier::kDisk;
    e.bytes = 0;
  }

  // Sends the entry at `it` out of memory, to its file or nowhere; returns the
  // next position in the list.
  std::list<std::string>::iterator spill(std::list<std::string>::iterator it) {
    auto found = entries.find(*it);
    Entry& e = found->second;
    unaccount_memory(e);
    if (e.file_bytes > 0) {
      ++stats.evictions_to_disk;
    } else {
      ++stats.evictions_dropped;
      entries.erase(found);
    }
    return lru.erase(it);
  }

  // Least recently used first: unpinned device entries go down a tier until
  // the device budget holds, then host entries until the host budget holds.
  void evict() {
    const bool host_tier = !options.device.is_cpu();
    for (auto it = lru.end();
         stats.device_bytes > options.device_budget_bytes && it != lru.begin();) {
      --it;
      Entry& e = entries.at(*it);
      if (e.tier != Tier::kDevice || e.pinned) continue;
      if (!host_tier) {
        it = spill(it);
        continue;
      }
      // Quantized when asked and possible (inf / NaN stay as they are).
      std::shared_ptr<const QuantizedKV> quantized =
          options.int8_tiers ? quantize_kv(*e.kv, at::kCPU) : nullptr;
      std::shared_ptr<const ModuleKV> host = quantized ? nullptr : copy_to(*e.kv, at::kCPU);
      unaccount_memory(e);
      e.bytes = quantized ? quantized->bytes() : host->bytes();
      e.qkv = std::move(quantized);
      e.kv = std::move(host);
      e.tier = Tier::kHost;
      stats.host_bytes += e.bytes;
      ++stats.evictions_to_host;
    }
    if (!host_tier) return;
    for (auto it = lru.end(); stats.host_bytes > options.host_budget_bytes && it != lru.begin();) {
      --it;
      if (entries.at(*it).tier == Tier::kHost) it = spill(it);
    }
  }

  const ModuleStoreOptions& options;
  std::unordered_map<std::string, Entry> entries;  // by key.to_string()
  std::list<std::string> lru;  // keys of the entries in memory, most recently used first
  std::vector<std::pair<std::string, std::string>> pins;  // (schema, module) rules
  ModuleStoreStats stats;                                 // entries is filled in by stats()
};

ModuleStore::ModuleStore(ModuleStoreOptions options)
    : options_(std::move(options)), state_(std::make_unique<ModuleStoreState>(options_)) {
  if (!options_.disk_dir.empty())
    disk_ = std::make_unique<DiskTier>(options_.disk_dir, fmt::kExtension);
  if (options_.remote) {
    write_behind_ = std::make_unique<WriteBehind>(*options_.remote, options_.remote_queue_jobs);
  }
}

ModuleStore::~ModuleStore() = default;

StatusOr<std::shared_ptr<const ModuleKV>> ModuleStore::get(const ModuleKey& key) {
  using Result = StatusOr<std::shared_ptr<const ModuleKV>>;
  return without_exceptions("ModuleStore::get", [&]() -> Result {
    const std::string name = key.to_string();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto local = get_local(key, name)) return local;
      if (!options_.remote) {
        ++state_->stats.misses;
        return std::shared_ptr<const ModuleKV>();
      }
    }
    // The remote tier, outside the lock: others go on while it answers.
    auto found = get_remote(key, name);
    std::lock_guard<std::mutex> lock(mu_);
    ++(found ? state_->stats.hits : state_->stats.misses);
    return found;
  });
}

std::shared_ptr<const ModuleKV> ModuleStore::get_local(const ModuleKey& key,
                                                       const std::string& name) {
  ModuleStoreState& s = *state_;
  auto found = s.entries.find(name);
  if (found != s.entries.end() && found->second.in_memory()) {
    ModuleStoreState::Entry& e = found->second;
    s.lru.splice(s.lru.begin(), s.lru, e.lru);
    if (e.tier == Tier::kDevice) {
      ++s.stats.hits;
      ++s.stats.device_hits;
      return e.kv;
    }
    auto kv = s.device_copy(e);
    ++s.stats.hits;
    ++s.stats.host_hits;
    s.unaccount_memory(e);
    s.place_on_device(e, kv);
    s.evict();
    return kv;
  }
  if (!disk_) return nullptr;
  int64_t file_bytes = 0;
  auto loaded = read_from(*disk_, name, disk_->path_of(name), name, options_.device, &file_bytes);
  if (!loaded.ok()) {
    // A cache that cannot be read is a miss whatever the reason: a damaged
    // file is removed (read_from); what pcache never writes (a folder or a
    // FIFO under the name, an unreadable file) is left as it is.
    if (loaded.status().code() != StatusCode::kNotFound) ++s.stats.corrupt_files;
    if (found != s.entries.end()) {  // a disk-only entry whose file is gone
      s.stats.disk_bytes -= found->second.file_bytes;
      s.entries.erase(found);
    }
    return nullptr;
  }
  ModuleStoreState::Entry& e = s.entries[name];
  e.key = key;
  s.stats.disk_bytes += file_bytes - e.file_bytes;
  e.file_bytes = file_bytes;
  e.lru = s.lru.insert(s.lru.begin(), name);
  std::shared_ptr<const ModuleKV> kv = packed_on(**loaded, options_.device);
  s.place_on_device(e, kv);
  ++s.stats.hits;
  ++s.stats.disk_hits;
  s.evict();
  return kv;
}

std::shared_ptr<const ModuleKV> ModuleStore::get_remote(const ModuleKey& key,
                                                        const std::string& name) {
  const std::string remote_key = remote_module_key(key.tenant, key.model, key.content, name);
  // Checked, so another model's, another key's or a cut value never gets
  // further; it is removed for every replica, and encoded again by the caller.
  int64_t value_bytes = 0;
  auto loaded = read_from(*options_.remote, remote_key, "remote " + remote_key, name,
                          options_.device, &value_bytes);
  const StatusCode code = loaded.status().code();
  if (!loaded.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (code == StatusCode::kCorruption) ++state_->stats.remote_corrupt;
    if (code != StatusCode::kNotFound && code != StatusCode::kCorruption) {
      ++state_->stats.remote_errors;
    }
    return nullptr;
  }
  // Kept locally like an encoded entry (a disk file too), but not written back.
  std::shared_ptr<const ModuleKV> kv = packed_on(**loaded, options_.device);
  keep(key, name, kv, /*write_behind=*/false);
  std::lock_guard<std::mutex> lock(mu_);
  ++state_->stats.remote_hits;
  return kv;
}

Status ModuleStore::put(const ModuleKey& key, ModuleKV kv) {
  PCACHE_RETURN_IF_ERROR(validate(kv));
  const std::string name = key.to_string();
  if ((!options_.disk_dir.empty() || options_.remote) && name.size() > fmt::kMaxKeyBytes) {
    return Status::invalid_argument("ModuleStore::put: key longer than " +
                                    std::to_string(fmt::kMaxKeyBytes) +
                                    " bytes: " + name.substr(0, 100) + "...");
  }
  return without_exceptions("ModuleStore::put", [&]() -> Status {
    keep(key, name, packed_on(kv, options_.device), /*write_behind=*/true);
    return Status::ok_status();
  });
}

void ModuleStore::keep(const ModuleKey& key, const std::string& name,
                       std::shared_ptr<const ModuleKV> stored, bool write_behind) {
  // The file is written outside the lock (others go on meanwhile). One that
  // cannot be written (a full disk, a folder under its name) leaves the
  // entry in memory only: counted, not an error of the request.
  int64_t file_bytes = 0;
  if (disk_) {
    StatusOr<std::string> bytes = encode(name, *stored, options_.int8_tiers);
    if (bytes.ok() && disk_->put(name, *bytes).ok())
      file_bytes = static_cast<int64_t>(bytes->size());
  }
  if (write_behind && write_behind_) {
    // Encoded on the write-behind thread from the entry's own (immutable)
    // copy, which the job holds until it has run.
    const bool int8 = options_.int8_tiers;
    write_behind_->enqueue(remote_module_key(key.tenant, key.model, key.content, name),
                           [stored, name, int8]() -> StatusOr<std::string> {
                             return without_exceptions("remote write " + name, [&]() {
                               return encode(name, *stored, int8);
                             });
                           });
  }
  std::lock_guard<std::mutex> lock(mu_);
  ModuleStoreState& s = *state_;
  if (disk_ && file_bytes == 0) ++s.stats.disk_write_failures;
  ModuleStoreState::Entry& e = s.entries[name];
  e.key = key;
  if (e.in_memory()) {
    s.unaccount_memory(e);
    s.lru.erase(e.lru);
  }
  if (file_bytes > 0) {
    s.stats.disk_bytes += file_bytes - e.file_bytes;
    e.file_bytes = file_bytes;
  }
  e.lru = s.lru.insert(s.lru.begin(), name);
  s.place_on_device(e, std::move(stored));
  s.evict();
}

void ModuleStore::flush_remote_writes() {
  if (write_behind_) write_behind_->flush();
}

Status ModuleStore::pin(const std::string& schema, const std::string& module) {
  return without_exceptions("ModuleStore::pin", [&]() -> Status {
    std::lock_guard<std::mutex> lock(mu_);
    ModuleStoreState& s = *state_;
    for (const auto& rule : s.pins) {
      if (rule.first == schema && rule.second == module) return Status::ok_status();
    }
    // Entries in memory are pinned now (host ones brought up), the rest when
    // they next come to the device.
    int64_t extra = 0;
    std::vector<std::pair<ModuleStoreState::Entry*, std::shared_ptr<const ModuleKV>>> newly;
    for (auto& [name, e] : s.entries) {
      if (!e.in_memory() || e.pinned || !matches(e.key, schema, module)) continue;
      extra += e.device_bytes();
      newly.emplace_back(&e, e.tier == Tier::kDevice ? e.kv : nullptr);
    }
    if (s.stats.pinned_bytes + extra > s.pin_limit()) {
      return Status::resource_exhausted(
          "pinning schema '" + schema + "' module '" + module + "' would pin " +
          std::to_string(s.stats.pinned_bytes + extra) + " bytes, over the limit of " +
          std::to_string(s.pin_limit()) + " (max_pinned_share of the device budget)");
    }
    // Copies first, so that a failed one changes nothing.
    for (auto& [e, kv] : newly) {
      if (!kv) kv = s.device_copy(*e);
    }
    s.pins.emplace_back(schema, module);
    for (auto& [e, kv] : newly) {
      s.unaccount_memory(*e);
      s.place_on_device(*e, std::move(kv));
    }
    s.evict();
    return Status::ok_status();
  });
}

void ModuleStore::unpin(const std::string& schema, const std::string& module) {
  std::lock_guard<std::mutex> lock(mu_);
  ModuleStoreState& s = *state_;
  for (auto it = s.pins.begin(); it != s.pins.end();) {
    it = (it->first == schema && it->second == module) ? s.pins.erase(it) : it + 1;
  }
  // Entries left pinned by no rule become evictable (at the next put or get).
  for (auto& [name, e] : s.entries) {
    if (e.pinned && !s.pin_rule_matches(e.key)) {
      e.pinned = false;
      s.stats.pinned_bytes -= e.bytes;
    }
  }
}

std::optional<Tier> ModuleStore::tier_of(const ModuleKey& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = state_->entries.find(key.to_string());
  if (found == state_->entries.end()) return std::nullopt;
  return found->second.tier;
}

ModuleStoreStats ModuleStore::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  ModuleStoreStats out = state_->stats;
  if (write_behind_) {
    const WriteBehindStats w = write_behind_->stats();
    out.remote_writes = w.written;
    out.remote_write_failures = w.failed;
    out.remote_writes_dropped = w.dropped;
  }
  out.entries = static_cast<int64_t>(state_->entries.size());
  return out;
}

}  // namespace pcache
