// Fuzz target: a .safetensors file. Opened alone (its header validated against
// the file, every tensor's bytes then read), then as the model.safetensors of
// a checkpoint folder whose tensors are loaded at their own shapes, as
// LlamaModel::load would (int8 projections with their scales, too).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"

volatile unsigned fuzz_sink;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcache;
  static const std::string dir = [] {
    const std::string config = "{\"model_type\": \"llama\", \"vocab_size\": 8, \"hidden_size\": 4,"
        " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 1,"
        " \"num_key_value_heads\": 1, \"max_position_embeddings\": 16, \"rms_norm_eps\": 1e-6}";
    fuzz::write_temp_file("config.json", reinterpret_cast<const uint8_t*>(config.data()),
                          config.size());
    return fuzz::temp_dir();
  }();
  const std::string path = fuzz::write_temp_file("model.safetensors", data, size);
  auto file = SafetensorsFile::open(path);
  if (!file.ok()) return 0;
  unsigned sum = 0;
  for (const auto& [name, info] : (*file)->tensors()) {
    const unsigned char* p = (*file)->data(info);
    for (uint64_t i = 0; i < info.end - info.begin; ++i) sum += p[i];
  }
  fuzz_sink = sum;  // the reads above must happen
  auto ck = Checkpoint::open(dir);
  if (!ck.ok()) return 0;
  int loaded = 0;
  for (const auto& [name, info] : (*file)->tensors()) {
    if (++loaded > 16) break;
    (void)(*ck)->load(name, info.shape, at::kFloat, at::kCPU);
    if ((*ck)->is_int8(name)) (void)(*ck)->load_int8(name, info.shape, at::kCPU);
  }
  return 0;
}
