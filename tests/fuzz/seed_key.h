// What the binary seeds (write_seeds.cc) were made with and the targets read
// them back as.
#pragma once

#include "cache/module_store.h"

namespace pcache::fuzz {

inline constexpr const char* kSeedFingerprint = "0123456789abcdef";

inline ModuleKey seed_module_key() {
  return ModuleKey{kSeedFingerprint, "fuzz", "menu/specials", 0x1234abcdull};
}

}  // namespace pcache::fuzz
