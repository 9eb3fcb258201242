// Fuzz target: a module cache file (ModuleStore's disk tier, docs/formats.md)
// under the name of the key the seeds carry, looked up by a fresh store as a
// later run would. The checksum is recomputed (checksummed.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "cache/disk_tier.h"
#include "cache/module_file_format.h"
#include "cache/module_store.h"
#include "fuzz/checksummed.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/seed_key.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcache;
  const ModuleKey key = fuzz::seed_module_key();
  const std::string dir = fuzz::temp_dir() + "/modules";
  // The file name the store looks for: its disk tier's for the key.
  const std::string path = DiskTier(dir, module_file_format::kExtension).path_of(key.to_string());
  ModuleStoreOptions options;
  options.disk_dir = dir;
  for (bool int8 : {false, true}) {
    options.int8_tiers = int8;
    ModuleStore store(options);  // makes the folder
    const std::string bytes = fuzz::with_checksum(data, size, module_file_format::kMagicBytes);
    fuzz::write_temp_file(path.substr(fuzz::temp_dir().size() + 1),
                          reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    auto kv = store.get(key);
    if (kv.ok() && *kv != nullptr) (void)(*kv)->bytes();
  }
  return 0;
}
