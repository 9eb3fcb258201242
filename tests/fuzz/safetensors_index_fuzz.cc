// Fuzz target: model.safetensors.index.json of a sharded checkpoint. The
// folder also holds a config.json and small shards under the names the seeds
// use (those of the tiny Llama fixture); the checkpoint is opened, its
// fingerprint taken and its tensors loaded.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "model/checkpoint.h"

namespace {

// A .safetensors file: u64 header length, JSON header, data.
std::string safetensors(const std::string& header, size_t data_bytes) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(uint64_t{header.size()} >> (8 * i));
  return s + header + std::string(data_bytes, '\x01');
}

void write(const std::string& name, const std::string& bytes) {
  pcache::fuzz::write_temp_file(name, reinterpret_cast<const uint8_t*>(bytes.data()),
                                bytes.size());
}

const std::string& checkpoint_dir() {
  static const std::string dir = [] {
    write("config.json",
          "{\"model_type\": \"llama\", \"vocab_size\": 8, \"hidden_size\": 4,"
          " \"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 1,"
          " \"num_key_value_heads\": 1, \"max_position_embeddings\": 16, \"rms_norm_eps\": 1e-6}");
    write("model-00001-of-00003.safetensors",
          safetensors("{\"model.embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[8,4],"
                      "\"data_offsets\":[0,128]}}", 128));
    write("model-00002-of-00003.safetensors",
          safetensors("{\"__metadata__\":{\"format\":\"pt\"},\"lm_head.weight\":{\"dtype\":"
                      "\"BF16\",\"shape\":[8,4],\"data_offsets\":[0,64]}}", 64));
    write("model-00003-of-00003.safetensors",
          safetensors("{\"model.norm.weight\":{\"dtype\":\"F16\",\"shape\":[4],"
                      "\"data_offsets\":[0,8]},\"model.layers.0.input_layernorm.weight\":"
                      "{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24));
    return pcache::fuzz::temp_dir();
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcache;
  const std::string& dir = checkpoint_dir();
  fuzz::write_temp_file("model.safetensors.index.json", data, size);
  auto ck = Checkpoint::open(dir);
  if (!ck.ok()) return 0;
  (void)(*ck)->fingerprint();
  const std::pair<const char*, std::vector<int64_t>> tensors[] = {
      {"model.embed_tokens.weight", {8, 4}}, {"lm_head.weight", {8, 4}}, {"model.norm.weight", {4}}};
  for (const auto& [name, shape] : tensors) {
    if ((*ck)->has(name)) (void)(*ck)->load(name, shape, at::kFloat, at::kCPU);
  }
  return 0;
}
