// Fuzz target: the YAML configuration file (pcache.example.yaml's format).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)pcache::parse_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  return 0;
}
