#include "cache/module_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <thread>

#include "testing.h"
#include "util/file_util.h"

namespace pcache {
namespace {

struct CudaPresent {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) {
    return at::hasCUDA();
  }
};

ModuleKey key_of(const std::string& module, const std::string& schema = "s", uint64_t content = 7) {
  return {"0123abcd", schema, module, content};
}

// 2 layers of [2, t, 8] K and V whose values follow from `seed`: 1024 bytes in float32 at t = 4.
ModuleKV make_kv(int seed, at::ScalarType dtype = at::kFloat, int64_t t = 4) {
  ModuleKV kv;
  for (int i = 0; i < t; ++i) {
    kv.tokens.push_back(seed * 100 + i);
    kv.positions.push_back(seed + 2 * i);
  }
  for (int l = 0; l < 2; ++l) {
    at::Tensor base = at::arange(2 * t * 8, at::kFloat).reshape({2, t, 8}) / 8;
    kv.k.push_back((base + seed + l).to(dtype));
    kv.v.push_back((-base - seed - l).to(dtype));
  }
  return kv;
}
constexpr int64_t kEntryBytes = 1024;

bool same(const ModuleKV& a, const ModuleKV& b) {
  if (a.tokens != b.tokens || a.positions != b.positions || a.k.size() != b.k.size() ||
      a.v.size() != b.v.size()) {
    return false;
  }
  for (size_t l = 0; l < a.k.size(); ++l) {
    if (a.k[l].scalar_type() != b.k[l].scalar_type() || !at::equal(a.k[l].cpu(), b.k[l].cpu()) ||
        !at::equal(a.v[l].cpu(), b.v[l].cpu())) {
      return false;
    }
  }
  return true;
}

std::shared_ptr<const ModuleKV> get_ok(ModuleStore& store, const ModuleKey& key) {
  auto got = store.get(key);
  BOOST_REQUIRE_MESSAGE(got.ok(), got.status().to_string());
  return *got;
}

void put_ok(ModuleStore& store, const ModuleKey& key, ModuleKV kv) {
  Status s = store.put(key, std::move(kv));
  BOOST_REQUIRE_MESSAGE(s.ok(), s.to_string());
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  BOOST_REQUIRE(d != nullptr);
  while (const dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      names.push_back(e->d_name);
    }
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string tier(const ModuleStore& store, const ModuleKey& key) {
  const std::optional<Tier> t = store.tier_of(key);
  if (!t) return "none";
  return *t == Tier::kDevice ? "device" : *t == Tier::kHost ? "host" : "disk";
}

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

void write_whole(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  BOOST_REQUIRE(out.good());
}

// The path of the one file that putting `key` adds to `dir`.
std::string put_and_find_file(ModuleStore& store, const ModuleKey& key, ModuleKV kv) {
  const auto before = list_dir(store.options().disk_dir);
  put_ok(store, key, std::move(kv));
  const auto after = list_dir(store.options().disk_dir);
  BOOST_REQUIRE_EQUAL(after.size(), before.size() + 1);
  for (const auto& name : after) {
    if (std::find(before.begin(), before.end(), name) == before.end()) {
      return store.options().disk_dir + "/" + name;
    }
  }
  BOOST_FAIL("no new file");
  return "";
}

ModuleStoreOptions cpu_options(int64_t device_budget, const std::string& disk_dir = "") {
  ModuleStoreOptions o;
  o.device_budget_bytes = device_budget;
  o.disk_dir = disk_dir;
  return o;
}


// b is a within half a quantization step of a, per element: per-channel int8
// of [H, T, D] has step max_T |a| / 127 in each (h, d); the dtype's own
// rounding of the dequantized value is allowed for on top.
bool within_half_step(const ModuleKV& a, const ModuleKV& b) {
  if (a.tokens != b.tokens || a.positions != b.positions || a.k.size() != b.k.size() ||
      a.v.size() != b.v.size()) {
    return false;
  }
  for (size_t l = 0; l < a.k.size(); ++l) {
    for (const auto& [x, y] : {std::pair(a.k[l], b.k[l]), std::pair(a.v[l], b.v[l])}) {
      if (x.scalar_type() != y.scalar_type() || x.sizes() != y.sizes()) return false;
      if (x.size(1) == 0) continue;
      const at::Tensor xf = x.cpu().to(at::kFloat), yf = y.cpu().to(at::kFloat);
      const double eps = x.scalar_type() == at::kFloat      ? 1e-6
                         : x.scalar_type() == at::kBFloat16 ? 1.0 / 256
                                                            : 1.0 / 2048;
      const at::Tensor step = xf.abs().amax({1}, true) / 127;
      const at::Tensor allowed = step / 2 * (1 + 1e-5) + xf.abs() * eps + 1e-7;
      if (!((xf - yf).abs() <= allowed).all().item<bool>()) return false;
    }
  }
  return true;
}

ModuleStoreOptions int8_options(int64_t device_budget, const std::string& disk_dir) {
  ModuleStoreOptions o = cpu_options(device_budget, disk_dir);
  o.int8_tiers = true;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(module_store_test)

BOOST_AUTO_TEST_CASE(key_to_string) {
  BOOST_TEST(ModuleKey({"ab12", "chat", "menu/specials", 0x1f}).to_string() ==
             "ab12/chat/menu/specials/000000000000001f");
  BOOST_TEST(ModuleKey({"ab12", "chat", "", 0}).to_string() == "ab12/chat//0000000000000000");
  // Slashes in a schema name cannot make two keys alike.
  BOOST_TEST(ModuleKey({"m", "a/b", "c", 1}).to_string() !=
             ModuleKey({"m", "a", "b/c", 1}).to_string());
}

BOOST_AUTO_TEST_CASE(put_get_round_trip) {
  ModuleStore store(cpu_options(1 << 20));
  put_ok(store, key_of("a"), make_kv(1));
  put_ok(store, key_of("b"), make_kv(2, at::kBFloat16));
  auto a = get_ok(store, key_of("a"));
  auto b = get_ok(store, key_of("b"));
  BOOST_REQUIRE(a && b);
  BOOST_TEST(same(*a, make_kv(1)));
  BOOST_TEST(same(*b, make_kv(2, at::kBFloat16)));
  BOOST_TEST(a->bytes() == kEntryBytes);
  BOOST_TEST(tier(store, key_of("a")) == "device");
  // Putting a key again replaces its entry.
  put_ok(store, key_of("a"), make_kv(3));
  BOOST_TEST(same(*get_ok(store, key_of("a")), make_kv(3)));
  BOOST_TEST(same(*a, make_kv(1)));  // the caller's copy is untouched
  ModuleStoreStats s = store.stats();
  BOOST_TEST(s.hits == 3);
  BOOST_TEST(s.device_hits == 3);
  BOOST_TEST(s.misses == 0);
  BOOST_TEST(s.entries == 2);
  BOOST_TEST(s.device_bytes == kEntryBytes + kEntryBytes / 2);
}

BOOST_AUTO_TEST_CASE(entries_keep_their_layers_packed) {
  // Whatever the caller's tensors, an entry's layers are consecutive slices
  // of one buffer per side, which assembly copies in one go.
  ModuleKV loose = make_kv(1);
  BOOST_TEST(!packed_layers(loose.k).defined());  // separate tensors
  ModuleStore store(cpu_options(1 << 20));
  put_ok(store, key_of("a"), make_kv(1));
  auto a = get_ok(store, key_of("a"));
  BOOST_REQUIRE(a);
  at::Tensor k = packed_layers(a->k), v = packed_layers(a->v);
  BOOST_REQUIRE(k.defined());
  BOOST_REQUIRE(v.defined());
  BOOST_TEST(k.size(0) == static_cast<int64_t>(a->k.size()));
  BOOST_TEST(k.equal(at::stack(loose.k)));
  BOOST_TEST(v.equal(at::stack(loose.v)));
  // A slice of each layer (a KV cache's view, say) is not packed.
  std::vector<at::Tensor> sliced;
  for (const auto& t : a->k) sliced.push_back(t.narrow(1, 0, 1));
  BOOST_TEST(!packed_layers(sliced).defined());
}

BOOST_AUTO_TEST_CASE(miss_counted) {
  testing::TempDir dir;
  ModuleStore store(cpu_options(1 << 20, dir.path));
  BOOST_TEST(!get_ok(store, key_of("nothing")));
  put_ok(store, key_of("a"), make_kv(1));
  BOOST_TEST(!get_ok(store, key_of("a", "s", /*content=*/8)));  // other content
  BOOST_TEST(tier(store, key_of("nothing")) == "none");
  ModuleStoreStats s = store.stats();
  BOOST_TEST(s.misses == 2);
  BOOST_TEST(s.hits == 0);
  BOOST_TEST(s.corrupt_files == 0);
}

BOOST_AUTO_TEST_CASE(lru_eviction_order_to_disk) {
  testing::TempDir dir;
  ModuleStore store(cpu_options(2 * kEntryBytes + 100, dir.path));  // room for two
  put_ok(store, key_of("a"), make_kv(1));
  put_ok(store, key_of("b"), make_kv(2));
  BOOST_REQUIRE(get_ok(store, key_of("a")));  // a is now more recent than b
  put_ok(store, key_of("c"), make_kv(3));
  BOOST_TEST(tier(store, key_of("b")) == "disk");
  BOOST_TEST(tier(store, key_of("a")) == "device");
  BOOST_TEST(tier(store, key_of("c")) == "device");
  // b comes back from disk; a is then the least recently used.
  auto b = get_ok(store, key_of("b"));
  BOOST_REQUIRE(b);
  BOOST_TEST(same(*b, make_kv(2)));
  BOOST_TEST(tier(store, key_of("a")) == "disk");
  BOOST_TEST(tier(store, key_of("b")) == "device");
  BOOST_TEST(same(*get_ok(store, key_of("a")), make_kv(1)));
  BOOST_TEST(tier(store, key_of("c")) == "disk");
  ModuleStoreStats s = store.stats();
  BOOST_TEST(s.evictions_to_disk == 3);
  BOOST_TEST(s.evictions_dropped == 0);
  BOOST_TEST(s.disk_hits == 2);
  BOOST_TEST(s.device_hits == 1);
  BOOST_TEST(s.entries == 3);
  BOOST_TEST(s.device_bytes == 2 * kEntryBytes);
  BOOST_TEST(s.host_bytes == 0);
  BOOST_TEST(s.disk_bytes > 3 * kEntryBytes);
  BOOST_TEST(list_dir(dir.path).size() == 3u);
}

BOOST_AUTO_TEST_CASE(eviction_without_disk_drops) {
  ModuleStore store(cpu_options(2 * kEntryBytes));
  for (int i = 0; i < 4; ++i) put_ok(store, key_of(std::to_string(i)), make_kv(i));
  BOOST_TEST(tier(store, key_of("0")) == "none");
  BOOST_TEST(tier(store, key_of("1")) == "none");
  BOOST_TEST(!get_ok(store, key_of("0")));
  BOOST_TEST(same(*get_ok(store, key_of("3")), make_kv(3)));
  ModuleStoreStats s = store.stats();
  BOOST_TEST(s.evictions_dropped == 2);
  BOOST_TEST(s.evictions_to_disk == 0);
  BOOST_TEST(s.entries == 2);
  BOOST_TEST(s.device_bytes == 2 * kEntryBytes);
  BOOST_TEST(s.disk_bytes == 0);
}

BOOST_AUTO_TEST_CASE(held_entries_stay_valid) {
  testing::TempDir dir;
  ModuleStore dropping(cpu_options(kEntryBytes));
  ModuleStore spilling(cpu_options(kEntryBytes, dir.path));
  for (ModuleStore* store : {&dropping, &spilling}) {
    put_ok(*store, key_of("a"), make_kv(1));
    auto held = get_ok(*store, key_of("a"));
    BOOST_REQUIRE(held);
    put_ok(*store, key_of("b"), make_kv(2));
    put_ok(*store, key_of("c"), make_kv(3));
    BOOST_TEST(tier(*store, key_of("a")) != "device");
    BOOST_TEST(same(*held, make_kv(1)));
  }
  BOOST_TEST(same(*get_ok(spilling, key_of("a")), make_kv(1)));
}

BOOST_AUTO_TEST_CASE(entry_over_the_whole_budget_is_stored_then_spills) {
  testing::TempDir dir;
  ModuleStore store(cpu_options(kEntryBytes / 2, dir.path));
  put_ok(store, key_of("big"), make_kv(1));
  BOOST_TEST(tier(store, key_of("big")) == "disk");
  auto got = get_ok(store, key_of("big"));
  BOOST_REQUIRE(got);
  BOOST_TEST(same(*got, make_kv(1)));
  BOOST_TEST(store.stats().device_bytes == 0);
}

BOOST_AUTO_TEST_CASE(disk_round_trip_across_instances) {
  testing::TempDir dir;
  {
    ModuleStore first(cpu_options(1 << 20, dir.path));
    put_ok(first, key_of("f32"), make_kv(1));
    put_ok(first, key_of("bf16"), make_kv(2, at::kBFloat16));
    put_ok(first, key_of("f16"), make_kv(3, at::kHalf, /*t=*/5));
    put_ok(first, key_of("empty"), make_kv(4, at::kFloat, /*t=*/0));
  }
  // A second process: it knows nothing until it looks.
  ModuleStore second(cpu_options(1 << 20, dir.path));
  BOOST_TEST(tier(second, key_of("f32")) == "none");
  BOOST_TEST(second.stats().entries == 0);
  BOOST_TEST(same(*get_ok(second, key_of("f32")), make_kv(1)));
  BOOST_TEST(same(*get_ok(second, key_of("bf16")), make_kv(2, at::kBFloat16)));
  BOOST_TEST(same(*get_ok(second, key_of("f16")), make_kv(3, at::kHalf, 5)));
  BOOST_TEST(same(*get_ok(second, key_of("empty")), make_kv(4, at::kFloat, 0)));
  BOOST_TEST(tier(second, key_of("f32")) == "device");
  ModuleStoreStats s = second.stats();
  BOOST_TEST(s.disk_hits == 4);
  BOOST_TEST(s.entries == 4);
  BOOST_TEST(s.corrupt_files == 0);
  BOOST_TEST(s.disk_bytes > 0);
}

BOOST_AUTO_TEST_CASE(damaged_files_are_removed_and_missed) {
  const ModuleKey a = key_of("menu/a"), b = key_of("menu/b");
  const size_t key_bytes = a.to_string().size();
  auto set_u32 = [](std::string& c, size_t at, uint32_t x) {
    c.replace(at, 4, reinterpret_cast<const char*>(&x), 4);
  };
  auto set_u64 = [](std::string& c, size_t at, uint64_t x) {
    c.replace(at, 8, reinterpret_cast<const char*>(&x), 8);
  };
  // Each damage gets A's file content and B's, and returns what to write as A's file.
  const std::vector<std::pair<std::string, std::function<std::string(std::string, std::string)>>>
      damages = {
          {"empty", [](std::string, std::string) { return std::string(); }},
          {"truncated", [](std::string c, std::string) { return c.substr(0, c.size() / 2); }},
          {"short header", [](std::string c, std::string) { return c.substr(0, 20); }},
          {"extra byte", [](std::string c, std::string) { return c + '\0'; }},
          {"payload byte flipped",
           [](std::string c, std::string) {
             c[c.size() - 20] ^= 0x40;
             return c;
           }},
          {"checksum flipped",
           [](std::string c, std::string) {
             c.back() ^= 1;
             return c;
           }},
          {"bad magic",
           [](std::string c, std::string) {
             c[0] = 'X';
             return c;
           }},
          {"wrong version",
           [&](std::string c, std::string) {
             set_u32(c, 8, 3);
             return c;
           }},
          {"version 1 (no flags field)",
           [&](std::string c, std::string) {
             set_u32(c, 8, 1);
             return c;
           }},
          {"unknown flags",
           [&](std::string c, std::string) {
             set_u32(c, 44 + key_bytes, 2);
             return c;
           }},
          {"key length past the end",
           [&](std::string c, std::string) {
             set_u32(c, 16, 0xfffffff0u);
             return c;
           }},
          {"huge T",
           [&](std::string c, std::string) {
             set_u64(c, 36 + key_bytes, ~uint64_t{0});
             return c;
           }},
          {"huge layers",
           [&](std::string c, std::string) {
             set_u32(c, 24 + key_bytes, 0x7fffffffu);
             return c;
           }},
          {"bad dtype",
           [&](std::string c, std::string) {
             set_u32(c, 20 + key_bytes, 9);
             return c;
           }},
          {"other key", [](std::string, std::string other) { return other; }},
      };
  for (const auto& [what, damage] : damages) {
    BOOST_TEST_CONTEXT(what) {
      testing::TempDir dir;
      std::string file_a, file_b;
      {
        ModuleStore writer(cpu_options(1 << 20, dir.path));
        file_a = put_and_find_file(writer, a, make_kv(1));
        file_b = put_and_find_file(writer, b, make_kv(2));
      }
      auto content_a = read_file(file_a, 1u << 30, "test files");
      auto content_b = read_file(file_b, 1u << 30, "test files");
      BOOST_REQUIRE(content_a.ok() && content_b.ok());
      write_whole(file_a, damage(*content_a, *content_b));

      ModuleStore reader(cpu_options(1 << 20, dir.path));
      BOOST_TEST(!get_ok(reader, a));
      ModuleStoreStats s = reader.stats();
      BOOST_TEST(s.corrupt_files == 1);
      BOOST_TEST(s.misses == 1);
      BOOST_TEST(s.entries == 0);
      BOOST_TEST(!exists(file_a));
      BOOST_TEST(same(*get_ok(reader, b), make_kv(2)));  // B's own file is fine

      put_ok(reader, a, make_kv(1));
      ModuleStore third(cpu_options(1 << 20, dir.path));
      auto again = get_ok(third, a);
      BOOST_REQUIRE(again);
      BOOST_TEST(same(*again, make_kv(1)));
      BOOST_TEST(third.stats().corrupt_files == 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(int8_tiers_disk_round_trip_within_half_step) {
  testing::TempDir dir;
  const std::vector<std::pair<std::string, ModuleKV>> entries = {
      {"f32", make_kv(1)},
      {"bf16", make_kv(2, at::kBFloat16)},
      {"f16", make_kv(3, at::kHalf, 5)},
      {"empty", make_kv(4, at::kFloat, 0)},
      {"long", make_kv(5, at::kFloat, 40)},
  };
  {
    ModuleStore store(int8_options(kEntryBytes, dir.path));
    for (const auto& [name, kv] : entries) put_ok(store, key_of(name), kv);
    // Evicted from the device (no host tier on the CPU): read back from the int8 file.
    BOOST_TEST(tier(store, key_of("f32")) == "disk");
    auto got = get_ok(store, key_of("f32"));
    BOOST_REQUIRE(got);
    BOOST_TEST(within_half_step(*got, make_kv(1)));
    BOOST_TEST(!same(*got, make_kv(1)));  // quantized indeed
  }
  ModuleStore second(int8_options(1 << 20, dir.path));
  for (const auto& [name, kv] : entries) {
    BOOST_TEST_CONTEXT(name) {
      auto got = get_ok(second, key_of(name));
      BOOST_REQUIRE(got);
      BOOST_TEST(got->k[0].scalar_type() == kv.k[0].scalar_type());
      BOOST_TEST(within_half_step(*got, kv));
    }
  }
  // A store without int8_tiers reads int8 files too.
  ModuleStore plain(cpu_options(1 << 20, dir.path));
  auto got = get_ok(plain, key_of("bf16"));
  BOOST_REQUIRE(got);
  BOOST_TEST(within_half_step(*got, make_kv(2, at::kBFloat16)));
  BOOST_TEST(plain.stats().corrupt_files == 0);
  BOOST_TEST(second.stats().corrupt_files == 0);
}

BOOST_AUTO_TEST_CASE(int8_tiers_files_are_smaller) {
  testing::TempDir full_dir, int8_dir;
  ModuleStore full(cpu_options(1 << 20, full_dir.path));
  ModuleStore small(int8_options(1 << 20, int8_dir.path));
  const ModuleKey key = key_of("menu/a");
  const int64_t t = 32;
  auto full_size = read_file(put_and_find_file(full, key, make_kv(1, at::kFloat, t)), 1u << 30, "test files");
  auto int8_size = read_file(put_and_find_file(small, key, make_kv(1, at::kFloat, t)), 1u << 30, "test files");
  BOOST_REQUIRE(full_size.ok() && int8_size.ok());
  // 48 + K header, 12 T tokens and positions, 2 L tensors, 8 checksum; H = 2, D = 8, L = 2.
  const int64_t fixed = 48 + static_cast<int64_t>(key.to_string().size()) + 12 * t + 8;
  BOOST_TEST(static_cast<int64_t>(full_size->size()) == fixed + 4 * (2 * t * 8 * 4));
  BOOST_TEST(static_cast<int64_t>(int8_size->size()) == fixed + 4 * (2 * 8 * 4 + 2 * t * 8));
  BOOST_TEST(int8_size->size() < full_size->size());
  BOOST_TEST(small.stats().disk_bytes < full.stats().disk_bytes);
}

BOOST_AUTO_TEST_CASE(int8_tiers_damaged_files_are_detected) {
  const ModuleKey a = key_of("menu/a");
  const size_t key_bytes = a.to_string().size();
  auto set_u32 = [](std::string& c, size_t at, uint32_t x) {
    c.replace(at, 4, reinterpret_cast<const char*>(&x), 4);
  };
  const size_t payload_at = 48 + key_bytes + 12 * 4;
  const std::vector<std::pair<std::string, std::function<std::string(std::string)>>> damages = {
      {"truncated", [](std::string c) { return c.substr(0, c.size() - 9); }},
      {"extra byte", [](std::string c) { return c + '\0'; }},
      {"int8 value flipped",
       [](std::string c) {
         c[c.size() - 20] ^= 0x40;
         return c;
       }},
      {"scale flipped",
       [&](std::string c) {
         c[payload_at + 5] ^= 0x01;
         return c;
       }},
      {"checksum flipped",
       [](std::string c) {
         c.back() ^= 1;
         return c;
       }},
      {"int8 flag cleared",
       [&](std::string c) {
         set_u32(c, 44 + key_bytes, 0);
         return c;
       }},
      {"dtype changed",
       [&](std::string c) {
         set_u32(c, 20 + key_bytes, 1);
         return c;
       }},
  };
  for (const auto& [what, damage] : damages) {
    BOOST_TEST_CONTEXT(what) {
      testing::TempDir dir;
      std::string file;
      {
        ModuleStore writer(int8_options(1 << 20, dir.path));
        file = put_and_find_file(writer, a, make_kv(1));
      }
      auto content = read_file(file, 1u << 30, "test files");
      BOOST_REQUIRE(content.ok());
      write_whole(file, damage(*content));
      ModuleStore reader(int8_options(1 << 20, dir.path));
      BOOST_TEST(!get_ok(reader, a));
      BOOST_TEST(reader.stats().corrupt_files == 1);
      BOOST_TEST(!exists(file));
    }
  }
}

BOOST_AUTO_TEST_CASE(int8_tiers_keep_non_finite_entries_unquantized) {
  testing::TempDir dir;
  ModuleStore store(int8_options(1 << 20, dir.path));
  ModuleKV kv = make_kv(1);
  kv.v[1][0][0][0] = std::numeric_limits<float>::infinity();
  ModuleKV copy = kv;
  for (auto& x : copy.k) x = x.clone();
  for (auto& x : copy.v) x = x.clone();
  auto content = read_file(put_and_find_file(store, key_of("a"), std::move(kv)), 1u << 30, "test files");
  BOOST_REQUIRE(content.ok());
  uint32_t flags = 1;
  std::memcpy(&flags, content->data() + 44 + key_of("a").to_string().size(), 4);
  BOOST_TEST(flags == 0u);
  ModuleStore second(int8_options(1 << 20, dir.path));
  auto got = get_ok(second, key_of("a"));
  BOOST_REQUIRE(got);
  BOOST_TEST(same(*got, copy));
}

BOOST_AUTO_TEST_CASE(pinning) {
  testing::TempDir dir;
  // Room for two entries; one may be pinned.
  ModuleStoreOptions o = cpu_options(2 * kEntryBytes + 100, dir.path);
  o.max_pinned_share = 0.5;
  ModuleStore store(o);
  put_ok(store, key_of("menu/a"), make_kv(1));
  BOOST_REQUIRE(store.pin("s", "menu").ok());
  BOOST_TEST(store.stats().pinned_bytes == kEntryBytes);
  for (int i = 0; i < 4; ++i) put_ok(store, key_of(std::to_string(i), "t"), make_kv(10 + i));
  BOOST_TEST(tier(store, key_of("menu/a")) == "device");
  BOOST_TEST(tier(store, key_of("2", "t")) == "disk");
  BOOST_TEST(tier(store, key_of("3", "t")) == "device");

  // One more entry's worth would pass the share: refused, nothing pinned.
  Status over = store.pin("t");
  BOOST_TEST(over.code() == StatusCode::kResourceExhausted);
  BOOST_TEST(store.stats().pinned_bytes == kEntryBytes);
  put_ok(store, key_of("4", "t"), make_kv(14));
  BOOST_TEST(tier(store, key_of("3", "t")) == "disk");
  // "menu" covers menu/... but not menu2.
  put_ok(store, key_of("menu2"), make_kv(20));
  BOOST_TEST(store.stats().pinned_bytes == kEntryBytes);

  store.unpin("s", "menu");
  BOOST_TEST(store.stats().pinned_bytes == 0);
  put_ok(store, key_of("5", "t"), make_kv(15));
  put_ok(store, key_of("6", "t"), make_kv(16));
  BOOST_TEST(tier(store, key_of("menu/a")) == "disk");

  // A rule also pins entries that come to the device later.
  BOOST_REQUIRE(store.pin("s", "menu").ok());
  BOOST_TEST(store.stats().pinned_bytes == 0);
  BOOST_TEST(same(*get_ok(store, key_of("menu/a")), make_kv(1)));
  BOOST_TEST(store.stats().pinned_bytes == kEntryBytes);
  for (int i = 7; i < 10; ++i) put_ok(store, key_of(std::to_string(i), "t"), make_kv(10 + i));
  BOOST_TEST(tier(store, key_of("menu/a")) == "device");
  BOOST_TEST(store.stats().device_bytes <= o.device_budget_bytes);
}

BOOST_AUTO_TEST_CASE(invalid_kv_is_refused) {
  ModuleStore store(cpu_options(1 << 20));
  const std::vector<std::pair<std::string, std::function<void(ModuleKV&)>>> breaks = {
      {"no layers", [](ModuleKV& kv) { kv.k.clear(), kv.v.clear(); }},
      {"fewer V layers", [](ModuleKV& kv) { kv.v.pop_back(); }},
      {"a token too many", [](ModuleKV& kv) { kv.tokens.push_back(1); }},
      {"a position short", [](ModuleKV& kv) { kv.positions.pop_back(); }},
      {"other dtype in layer 1", [](ModuleKV& kv) { kv.v[1] = kv.v[1].to(at::kHalf); }},
      {"other heads in layer 1",
       [](ModuleKV& kv) {
         kv.k[1] = at::zeros({3, 4, 8});
       }},
      {"two dims",
       [](ModuleKV& kv) {
         kv.k[0] = kv.k[0].reshape({8, 8});
       }},
      {"integer dtype",
       [](ModuleKV& kv) {
         for (auto& t : kv.k) t = t.to(at::kInt);
         for (auto& t : kv.v) t = t.to(at::kInt);
       }},
      {"undefined tensor", [](ModuleKV& kv) { kv.v[0] = at::Tensor(); }},
  };
  for (const auto& [what, brk] : breaks) {
    BOOST_TEST_CONTEXT(what) {
      ModuleKV kv = make_kv(1);
      brk(kv);
      BOOST_TEST(store.put(key_of("a"), std::move(kv)).code() == StatusCode::kInvalidArgument);
    }
  }
  BOOST_TEST(store.stats().entries == 0);
}

BOOST_AUTO_TEST_CASE(concurrent_put_get) {
  testing::TempDir dir;
  ModuleStore store(cpu_options(3 * kEntryBytes, dir.path));
  constexpr int kThreads = 4, kRounds = 40, kKeys = 10;
  std::atomic<int> wrong{0}, errors{0}, found{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const int put_key = (i * 7 + t) % kKeys, get_key = (i * 3 + t + 1) % kKeys;
        if (!store.put(key_of(std::to_string(put_key)), make_kv(put_key)).ok()) ++errors;
        auto got = store.get(key_of(std::to_string(get_key)));
        if (!got.ok()) {
          ++errors;
        } else if (*got) {
          ++found;
          if (!same(**got, make_kv(get_key))) ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  BOOST_TEST(errors.load() == 0);
  BOOST_TEST(wrong.load() == 0);
  BOOST_TEST(found.load() > 0);
  ModuleStoreStats s = store.stats();
  BOOST_TEST(s.hits + s.misses == kThreads * kRounds);
  BOOST_TEST(s.hits == found.load());
  BOOST_TEST(s.corrupt_files == 0);
  BOOST_TEST(s.device_bytes <= 3 * kEntryBytes);
  BOOST_TEST(s.entries <= kKeys);
  BOOST_TEST(list_dir(dir.path).size() == static_cast<size_t>(s.entries));
}

BOOST_AUTO_TEST_CASE(no_temp_files_left) {
  testing::TempDir dir;
  ModuleStore store(cpu_options(1 << 20, dir.path + "/cache/modules"));  // made on demand
  for (int i = 0; i < 3; ++i) put_ok(store, key_of(std::to_string(i)), make_kv(i));
  put_ok(store, key_of("0"), make_kv(5));
  const auto names = list_dir(dir.path + "/cache/modules");
  BOOST_TEST(names.size() == 3u);
  for (const auto& name : names) {
    BOOST_TEST(name.size() == 20u, name);
    BOOST_TEST(name.substr(16) == ".pcm", name);
  }
  // A directory that cannot be made: the entry stays in memory, the failed
  // write is counted, and nothing is left on disk.
  write_whole(dir.path + "/plain", "x");
  ModuleStore broken(cpu_options(1 << 20, dir.path + "/plain/cache"));
  put_ok(broken, key_of("a"), make_kv(1));
  BOOST_TEST(broken.stats().entries == 1);
  BOOST_TEST(broken.stats().disk_write_failures == 1);
  BOOST_TEST(tier(broken, key_of("a")) == "device");
  BOOST_TEST(list_dir(dir.path).size() == 2u);
}

// What pcache never writes under a module's file name (a folder, a FIFO) is
// a miss, left where it is; the entry then lives in memory only.
BOOST_AUTO_TEST_CASE(a_folder_or_fifo_under_a_module_name_is_a_miss) {
  testing::TempDir dir;
  std::string folder_path, fifo_path;
  {
    ModuleStore writer(cpu_options(1 << 20, dir.path));
    folder_path = put_and_find_file(writer, key_of("a"), make_kv(1));
    fifo_path = put_and_find_file(writer, key_of("b"), make_kv(2));
  }
  BOOST_REQUIRE(::unlink(folder_path.c_str()) == 0 && ::mkdir(folder_path.c_str(), 0700) == 0);
  BOOST_REQUIRE(::unlink(fifo_path.c_str()) == 0 && ::mkfifo(fifo_path.c_str(), 0600) == 0);
  ModuleStore reader(cpu_options(1 << 20, dir.path));
  for (const char* name : {"a", "b"}) {
    auto got = reader.get(key_of(name));  // the FIFO must not block
    BOOST_TEST_REQUIRE(got.ok(), got.status().to_string());
    BOOST_TEST(!*got);
  }
  ModuleStoreStats s = reader.stats();
  BOOST_TEST(s.misses == 2);
  BOOST_TEST(s.corrupt_files == 2);
  BOOST_TEST(exists(folder_path));
  BOOST_TEST(exists(fifo_path));
  put_ok(reader, key_of("a"), make_kv(1));  // the rename onto a folder fails: memory only
  BOOST_TEST(reader.stats().disk_write_failures == 1);
  auto again = get_ok(reader, key_of("a"));
  BOOST_REQUIRE(again);
  BOOST_TEST(same(*again, make_kv(1)));
}

// A module file as large as the disk allows, sparse: refused by its size,
// without reading it.
BOOST_AUTO_TEST_CASE(an_oversized_sparse_file_is_a_miss) {
  testing::TempDir dir;
  std::string path;
  {
    ModuleStore writer(cpu_options(1 << 20, dir.path));
    path = put_and_find_file(writer, key_of("a"), make_kv(1));
  }
  BOOST_REQUIRE(::truncate(path.c_str(), int64_t{8} << 30) == 0);  // 8 GiB, the header kept
  ModuleStore reader(cpu_options(1 << 20, dir.path));
  auto got = reader.get(key_of("a"));
  BOOST_TEST_REQUIRE(got.ok(), got.status().to_string());
  BOOST_TEST(!*got);
  BOOST_TEST(reader.stats().corrupt_files == 1);
  BOOST_TEST(!exists(path));
}

// Temporary files of a writer killed mid-put are removed when a store opens the folder.
BOOST_AUTO_TEST_CASE(stale_temp_files_are_removed_at_start) {
  testing::TempDir dir;
  const std::string stale = dir.path + "/0123456789abcdef.pcm.tmp-Ab12Cd";
  write_whole(stale, "half a module");
  const timespec old[2] = {{::time(nullptr) - 3600, 0}, {::time(nullptr) - 3600, 0}};
  BOOST_REQUIRE(::utimensat(AT_FDCWD, stale.c_str(), old, 0) == 0);
  ModuleStore store(cpu_options(1 << 20, dir.path));
  BOOST_TEST(!exists(stale));
}

// The host tier exists only when the device is not the CPU.
BOOST_AUTO_TEST_CASE(cuda_host_tier, *boost::unit_test::precondition(CudaPresent())) {
  testing::TempDir dir;
  ModuleStoreOptions o = cpu_options(kEntryBytes, dir.path);
  o.device = at::Device(at::kCUDA, 0);
  o.host_budget_bytes = kEntryBytes;
  ModuleStore store(o);
  put_ok(store, key_of("a"), make_kv(1));
  put_ok(store, key_of("b"), make_kv(2));
  BOOST_TEST(tier(store, key_of("a")) == "host");
  put_ok(store, key_of("c"), make_kv(3));
  BOOST_TEST(tier(store, key_of("a")) == "disk");
  BOOST_TEST(tier(store, key_of("b")) == "host");
  auto b = get_ok(store, key_of("b"));
  BOOST_REQUIRE(b);
  BOOST_TEST(b->k[0].is_cuda());
  BOOST_TEST(same(*b, make_kv(2)));
  BOOST_TEST(tier(store, key_of("c")) == "host");
  auto a = get_ok(store, key_of("a"));
  BOOST_REQUIRE(a);
  BOOST_TEST(a->k[1].is_cuda());
  BOOST_TEST(same(*a, make_kv(1)));
  ModuleStoreStats s = store.stats();
  BOOST_TEST(s.host_hits == 1);
  BOOST_TEST(s.disk_hits == 1);
  BOOST_TEST(s.evictions_to_host == 4);
  BOOST_TEST(s.evictions_to_disk == 2);
  BOOST_TEST(s.device_bytes == kEntryBytes);
  BOOST_TEST(s.host_bytes == kEntryBytes);
}

BOOST_AUTO_TEST_CASE(cuda_int8_host_tier, *boost::unit_test::precondition(CudaPresent())) {
  testing::TempDir dir;
  ModuleStoreOptions o = int8_options(kEntryBytes, dir.path);
  o.device = at::Device(at::kCUDA, 0);
  o.host_budget_bytes = kEntryBytes;  // two quantized entries (512 bytes each)
  ModuleStore store(o);
  put_ok(store, key_of("a"), make_kv(1));
  put_ok(store, key_of("b"), make_kv(2, at::kBFloat16));  // 512 bytes on the device
  put_ok(store, key_of("c"), make_kv(3));
  BOOST_TEST(tier(store, key_of("a")) == "host");
  BOOST_TEST(tier(store, key_of("b")) == "host");
  // Per K or V: 2 x 8 f32 scales and 2 x 4 x 8 int8 values.
  BOOST_TEST(store.stats().host_bytes == 2 * 4 * (64 + 64));
  auto a = get_ok(store, key_of("a"));
  BOOST_REQUIRE(a);
  BOOST_TEST(a->k[0].is_cuda());
  BOOST_TEST(within_half_step(*a, make_kv(1)));
  auto b = get_ok(store, key_of("b"));
  BOOST_REQUIRE(b);
  BOOST_TEST(b->k[0].scalar_type() == at::kBFloat16);
  BOOST_TEST(within_half_step(*b, make_kv(2, at::kBFloat16)));
  ModuleStoreStats s = store.stats();
  BOOST_TEST(s.host_hits >= 1);  // a; b may have gone on to disk meanwhile
  BOOST_TEST(s.device_bytes <= kEntryBytes);
  BOOST_TEST(s.host_bytes <= kEntryBytes);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
