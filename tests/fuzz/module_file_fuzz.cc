// Fuzz target: a module cache file (ModuleStore's disk tier, docs/formats.md)
// under the name of the key the seeds carry, looked up by a fresh store as a
// later run would. The checksum is recomputed (checksummed.h).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "cache/module_file_format.h"
#include "cache/module_store.h"
#include "fuzz/checksummed.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/seed_key.h"
#include "xxhash.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcache;
  const ModuleKey key = fuzz::seed_module_key();
  const std::string dir = fuzz::temp_dir() + "/modules";
  char name[17];
  const std::string k = key.to_string();
  std::snprintf(name, sizeof name, "%016llx",
                static_cast<unsigned long long>(XXH64(k.data(), k.size(), 0)));
  ModuleStoreOptions options;
  options.disk_dir = dir;
  for (bool int8 : {false, true}) {
    options.int8_tiers = int8;
    ModuleStore store(options);  // makes the folder
    const std::string bytes = fuzz::with_checksum(data, size, module_file_format::kMagicBytes);
    fuzz::write_temp_file("modules/" + std::string(name) + module_file_format::kExtension,
                          reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    auto kv = store.get(key);
    if (kv.ok() && *kv != nullptr) (void)(*kv)->bytes();
  }
  return 0;
}
