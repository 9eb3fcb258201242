#include "cache/module_store.h"

#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <list>
#include <new>
#include <unordered_map>
#include <utility>

#include "cache/int8_quant.h"
#include "cache/kv_dtype.h"
#include "cache/module_file_format.h"
#include "cache/tensor_status.h"
#include "util/atomic_file.h"
#include "util/binary_io.h"
#include "util/file_util.h"

namespace pcache {

namespace fmt = module_file_format;

// Tensors and fields are written in host byte order, which the format fixes
// as little-endian (util/binary_io.h checks it).
static_assert(sizeof(int) == 4, "tokens are stored as 32-bit integers");
// The dtype codes are those of cache/kv_dtype.h.
static_assert(uint32_t{fmt::kF32} == kKvF32 && uint32_t{fmt::kBF16} == kKvBF16 &&
              uint32_t{fmt::kF16} == kKvF16);

namespace {

std::string hex16(uint64_t x) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, x);
  return buf;
}

// '/' separates the fields, so the model and schema escape it (and '%'); the
// module path keeps its slashes: it is whatever lies between the second and
// the last '/', the content hash having a fixed width.
void append_escaped(std::string& out, const std::string& s) {
  for (char c : s) {
    if (c == '%') {
      out += "%25";
    } else if (c == '/') {
      out += "%2F";
    } else {
      out += c;
    }
  }
}

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

// mkdir -p. Failures show when the first file cannot be created.
void make_dirs(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') ::mkdir(dir.substr(0, i).c_str(), 0755);
  }
}

// An entry's K/V as per-channel int8 (int8_tiers): tokens and positions as
// they are, K and V quantized, in file order (layer 0 K, layer 0 V, layer 1 K, ...).
struct QuantizedKV {
  std::vector<int> tokens;
  std::vector<int64_t> positions;
  std::vector<QuantizedTensor> kv;    // 2 L tensors
  at::ScalarType dtype = at::kFloat;  // of K and V before quantizing
  int64_t device_bytes = 0;           // K and V bytes once dequantized
  int64_t bytes() const {             // K and V bytes as held: values and scales
    int64_t n = 0;
    for (const auto& q : kv) n += static_cast<int64_t>(q.values.nbytes() + q.scales.nbytes());
    return n;
  }
};

// kv (validated) quantized where it lives, the result moved to `to`; null when
// a tensor holds inf or NaN, which int8 cannot store.
std::shared_ptr<const QuantizedKV> quantize_kv(const ModuleKV& kv, at::Device to) {
  auto out = std::make_shared<QuantizedKV>();
  out->tokens = kv.tokens;
  out->positions = kv.positions;
  out->dtype = kv.k[0].scalar_type();
  out->device_bytes = kv.bytes();
  for (size_t l = 0; l < kv.k.size(); ++l) {
    for (const at::Tensor* x : {&kv.k[l], &kv.v[l]}) {
      QuantizedTensor q = quantize_int8(*x);
      if (!at::isfinite(q.scales).all().item<bool>()) return nullptr;
      out->kv.push_back({q.values.to(to).contiguous(), q.scales.to(to).contiguous()});
    }
  }
  return out;
}

// q dequantized on `device`, in its original dtype.
std::shared_ptr<const ModuleKV> dequantize_kv(const QuantizedKV& q, at::Device device) {
  auto out = std::make_shared<ModuleKV>();
  out->tokens = q.tokens;
  out->positions = q.positions;
  at::Tensor scratch;
  for (size_t i = 0; i < q.kv.size(); ++i) {
    QuantizedTensor d{q.kv[i].values.to(device), q.kv[i].scales.to(device)};
    (i % 2 == 0 ? out->k : out->v).push_back(dequantize_int8(d, q.dtype, scratch));
  }
  return out;
}

// Writes `kv` (already validated) in the module file format; with `int8`, K
// and V quantized (unless they hold inf or NaN: then as they are).
Status write_module_file(AtomicFileWriter& file, const std::string& key, const ModuleKV& kv,
                         bool int8) {
  std::shared_ptr<const QuantizedKV> q = int8 ? quantize_kv(kv, at::kCPU) : nullptr;
  ChecksummedWriter out(file, fmt::kChecksumSeed);
  auto hashed_write = [&](const void* data, size_t n) { return out.write(data, n); };
  uint32_t dtype = 0;
  kv_dtype_code(kv.k[0].scalar_type(), &dtype);
  const auto t = static_cast<uint64_t>(kv.tokens.size());
  std::string header;
  append_u32(header, fmt::kVersion);
  append_u32(header, static_cast<uint32_t>(fmt::kFixedHeaderBytes + key.size()));
  append_u32(header, static_cast<uint32_t>(key.size()));
  header += key;
  append_u32(header, dtype);
  append_u32(header, static_cast<uint32_t>(kv.k.size()));
  append_u32(header, static_cast<uint32_t>(kv.k[0].size(0)));
  append_u32(header, static_cast<uint32_t>(kv.k[0].size(2)));
  append_u64(header, t);
  append_u32(header, q ? fmt::kFlagInt8 : 0);
  PCACHE_RETURN_IF_ERROR(file.write(fmt::kMagic, fmt::kMagicBytes));
  PCACHE_RETURN_IF_ERROR(hashed_write(header.data(), header.size()));
  PCACHE_RETURN_IF_ERROR(hashed_write(kv.tokens.data(), t * sizeof(int32_t)));
  PCACHE_RETURN_IF_ERROR(hashed_write(kv.positions.data(), t * sizeof(int64_t)));
  if (q) {
    for (const QuantizedTensor& x : q->kv) {
      PCACHE_RETURN_IF_ERROR(hashed_write(x.scales.data_ptr(), x.scales.nbytes()));
      PCACHE_RETURN_IF_ERROR(hashed_write(x.values.data_ptr(), x.values.nbytes()));
    }
  }
  for (size_t l = 0; !q && l < kv.k.size(); ++l) {
    for (const at::Tensor* x : {&kv.k[l], &kv.v[l]}) {
      at::Tensor c = x->to(at::kCPU).contiguous();
      PCACHE_RETURN_IF_ERROR(hashed_write(c.data_ptr(), c.nbytes()));
    }
  }
  return out.finish();
}

// The entry stored in `path` for `key`, on `device`. Errors: NotFound (no
// file), Corruption (anything wrong with its content), IoError.
StatusOr<std::shared_ptr<const ModuleKV>> read_module_file(const std::string& path,
                                                           const std::string& key,
                                                           at::Device device, int64_t* file_bytes) {
  PCACHE_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  auto corrupt = [&](const std::string& why) { return Status::corruption(path + ": " + why); };
  const size_t size = file.size();
  if (size < fmt::kFixedHeaderBytes + fmt::kChecksumBytes) {
    return corrupt("truncated (" + std::to_string(size) + " bytes)");
  }
  if (std::memcmp(file.data(), fmt::kMagic, fmt::kMagicBytes) != 0) return corrupt("bad magic");
  // Everything between the magic and the checksum; the header is read from it.
  ByteCursor in(file.data() + fmt::kMagicBytes, size - fmt::kMagicBytes - fmt::kChecksumBytes);
  uint32_t version = 0, header_bytes = 0, key_bytes = 0;
  in.read(&version);
  if (version != fmt::kVersion) return corrupt("unsupported version " + std::to_string(version));
  in.read(&header_bytes);
  in.read(&key_bytes);
  const unsigned char* key_data = nullptr;
  if (key_bytes > fmt::kMaxKeyBytes || header_bytes != fmt::kFixedHeaderBytes + key_bytes ||
      !(key_data = in.take(key_bytes))) {
    return corrupt("bad header size");
  }
  if (std::string(reinterpret_cast<const char*>(key_data), key_bytes) != key) {
    return corrupt("holds another key");
  }
  uint32_t code = 0, layers = 0, heads = 0, head_dim = 0, flags = 0;
  uint64_t t = 0;
  at::ScalarType dtype = at::kFloat;
  if (!in.read(&code) || !in.read(&layers) || !in.read(&heads) || !in.read(&head_dim) ||
      !in.read(&t) || !in.read(&flags)) {
    return corrupt("truncated header");
  }
  if (!kv_dtype_of(code, &dtype)) return corrupt("unknown dtype code " + std::to_string(code));
  if ((flags & ~fmt::kKnownFlags) != 0) return corrupt("unknown flags " + std::to_string(flags));
  const bool int8 = (flags & fmt::kFlagInt8) != 0;
  if (layers == 0 || heads == 0 || head_dim == 0) return corrupt("empty shape");
  // The payload, sized without overflow, must fill the file up to the checksum.
  // One K or V: H x T x D elements of the dtype, or with int8 H x D f32 scales
  // and H x T x D bytes.
  const uint64_t channels = uint64_t{heads} * head_dim;  // < 2^64: u32 x u32
  uint64_t row_bytes = 0, tensor_bytes = 0, all_tensors = 0, tokens_bytes = 0, payload = 0;
  if (__builtin_mul_overflow(channels, int8 ? 1 : at::elementSize(dtype), &row_bytes) ||
      __builtin_mul_overflow(row_bytes, t, &tensor_bytes) ||
      (int8 && __builtin_add_overflow(tensor_bytes, channels * sizeof(float), &tensor_bytes)) ||
      __builtin_mul_overflow(tensor_bytes, 2 * uint64_t{layers}, &all_tensors) ||
      __builtin_mul_overflow(t, sizeof(int32_t) + sizeof(int64_t), &tokens_bytes) ||
      __builtin_add_overflow(all_tensors, tokens_bytes, &payload) ||
      payload != size - header_bytes - fmt::kChecksumBytes) {
    return corrupt("size does not match the shape");
  }
  uint64_t stored = 0;
  std::memcpy(&stored, file.data() + size - fmt::kChecksumBytes, sizeof stored);
  const uint64_t actual = XXH64(file.data() + fmt::kMagicBytes,
                                size - fmt::kMagicBytes - fmt::kChecksumBytes, fmt::kChecksumSeed);
  if (stored != actual) return corrupt("checksum mismatch");

  // Sizes are checked: every take() below is within the file.
  auto copy_out = [&](void* dst, size_t n) {
    const unsigned char* src = in.take(n);
    if (n > 0) std::memcpy(dst, src, n);
  };
  auto kv = std::make_shared<ModuleKV>();
  kv->tokens.resize(t);
  kv->positions.resize(t);
  copy_out(kv->tokens.data(), t * sizeof(int32_t));
  copy_out(kv->positions.data(), t * sizeof(int64_t));
  const auto shape = {int64_t{heads}, static_cast<int64_t>(t), int64_t{head_dim}};
  at::Tensor scratch;
  for (uint32_t l = 0; l < layers; ++l) {
    for (auto* side : {&kv->k, &kv->v}) {
      if (!int8) {
        at::Tensor x = at::empty(shape, at::TensorOptions().dtype(dtype));
        copy_out(x.data_ptr(), tensor_bytes);
        side->push_back(x.to(device));
        continue;
      }
      QuantizedTensor q;
      q.scales = at::empty({int64_t{heads}, 1, int64_t{head_dim}}, at::kFloat);
      copy_out(q.scales.data_ptr(), q.scales.nbytes());
      q.values = at::empty(shape, at::kChar);
      copy_out(q.values.data_ptr(), q.values.nbytes());
      q.scales = q.scales.to(device);
      q.values = q.values.to(device);
      side->push_back(dequantize_int8(q, dtype, scratch));
    }
  }
  *file_bytes = static_cast<int64_t>(size);
  return std::shared_ptr<const ModuleKV>(std::move(kv));
}

}  // namespace

std::string ModuleKey::to_string() const {
  std::string out;
  append_escaped(out, model);
  out += '/';
  append_escaped(out, schema);
  out += '/';
  out += module;
  out += '/';
  out += hex16(content);
  return out;
}

at::Tensor packed_layers(const std::vector<at::Tensor>& layers) {
  if (layers.empty() || !layers[0].defined() || !layers[0].is_contiguous()) return at::Tensor();
  const at::Tensor& first = layers[0];
  const int64_t n = first.numel();
  for (size_t l = 1; l < layers.size(); ++l) {
    const at::Tensor& t = layers[l];
    if (!t.defined() || !t.is_contiguous() || !t.sizes().equals(first.sizes()) ||
        !t.storage().is_alias_of(first.storage()) ||
        t.storage_offset() != first.storage_offset() + static_cast<int64_t>(l) * n) {
      return at::Tensor();
    }
  }
  std::vector<int64_t> sizes = {static_cast<int64_t>(layers.size())}, strides = {n};
  sizes.insert(sizes.end(), first.sizes().begin(), first.sizes().end());
  strides.insert(strides.end(), first.strides().begin(), first.strides().end());
  return first.as_strided(sizes, strides, first.storage_offset());
}

int64_t ModuleKV::bytes() const {
  int64_t n = 0;
  for (const auto* side : {&k, &v}) {
    for (const auto& t : *side) n += t.defined() ? static_cast<int64_t>(t.nbytes()) : 0;
  }
  return n;
}

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

  std::string file_path(const std::string& key) const {
    return options.disk_dir + "/" + hex16(XXH64(key.data(), key.size(), 0)) + fmt::kExtension;
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
  if (!options_.disk_dir.empty()) {
    make_dirs(options_.disk_dir);
    remove_stale_temp_files(options_.disk_dir);  // of writers killed before
  }
}

ModuleStore::~ModuleStore() = default;

StatusOr<std::shared_ptr<const ModuleKV>> ModuleStore::get(const ModuleKey& key) {
  using Result = StatusOr<std::shared_ptr<const ModuleKV>>;
  return without_exceptions("ModuleStore::get", [&]() -> Result {
    const std::string name = key.to_string();
    std::lock_guard<std::mutex> lock(mu_);
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
    if (options_.disk_dir.empty()) {
      ++s.stats.misses;
      return std::shared_ptr<const ModuleKV>();
    }
    const std::string path = s.file_path(name);
    int64_t file_bytes = 0;
    auto loaded = read_module_file(path, name, options_.device, &file_bytes);
    if (!loaded.ok()) {
      // A cache that cannot be read is a miss whatever the reason: a damaged
      // file is removed; what pcache never writes (a folder or a FIFO under
      // the name, an unreadable file) is left as it is.
      const StatusCode code = loaded.status().code();
      if (code != StatusCode::kNotFound) ++s.stats.corrupt_files;
      if (code == StatusCode::kCorruption) ::unlink(path.c_str());
      if (found != s.entries.end()) {  // a disk-only entry whose file is gone
        s.stats.disk_bytes -= found->second.file_bytes;
        s.entries.erase(found);
      }
      ++s.stats.misses;
      return std::shared_ptr<const ModuleKV>();
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
  });
}

Status ModuleStore::put(const ModuleKey& key, ModuleKV kv) {
  PCACHE_RETURN_IF_ERROR(validate(kv));
  const std::string name = key.to_string();
  if (!options_.disk_dir.empty() && name.size() > fmt::kMaxKeyBytes) {
    return Status::invalid_argument("ModuleStore::put: key longer than " +
                                    std::to_string(fmt::kMaxKeyBytes) +
                                    " bytes: " + name.substr(0, 100) + "...");
  }
  return without_exceptions("ModuleStore::put", [&]() -> Status {
    std::shared_ptr<const ModuleKV> stored = packed_on(kv, options_.device);

    // The file is written outside the lock (others go on meanwhile); only the
    // rename, which makes it visible, is ordered with get()'s reads and deletes.
    // A file that cannot be written (a full disk, a folder under its name)
    // leaves the entry in memory only: counted, not an error of the request.
    std::optional<AtomicFileWriter> file;
    if (!options_.disk_dir.empty()) {
      file.emplace(state_->file_path(name), AtomicFileWriter::DirSync::kNo);
      Status written = file->open();
      if (written.ok()) written = write_module_file(*file, name, *stored, options_.int8_tiers);
      if (written.ok()) written = file->sync();
      if (!written.ok()) file.reset();
    }
    bool committed = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ModuleStoreState& s = *state_;
      committed = file && file->commit().ok();
      if (!options_.disk_dir.empty() && !committed) ++s.stats.disk_write_failures;
      ModuleStoreState::Entry& e = s.entries[name];
      e.key = key;
      if (e.in_memory()) {
        s.unaccount_memory(e);
        s.lru.erase(e.lru);
      }
      if (committed) {
        s.stats.disk_bytes += file->bytes() - e.file_bytes;
        e.file_bytes = file->bytes();
      }
      e.lru = s.lru.insert(s.lru.begin(), name);
      s.place_on_device(e, std::move(stored));
      s.evict();
    }
    // Outside the lock: the rename lasts through a power loss once the folder is synced.
    if (committed) sync_parent_directory(file->path());
    return Status::ok_status();
  });
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
  out.entries = static_cast<int64_t>(state_->entries.size());
  return out;
}

}  // namespace pcache
