// Fuzz target: a Hugging Face config.json (ModelConfig).
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)pcache::parse_model_config(std::string(reinterpret_cast<const char*>(data), size),
                                   "config.json");
  return 0;
}
