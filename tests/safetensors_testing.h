// Test helper: writes tensors as a .safetensors file, and copies fixture
// checkpoints with changes, to build damaged and variant checkpoints.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "model/safetensors.h"

namespace pcache::testing {

// Writes `tensors` to `path`; `header_edit` may change the JSON header first.
template <typename Edit>
void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                       Edit header_edit) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, t] : tensors) {
    at::Tensor c = t.contiguous().cpu();
    std::vector<int64_t> shape(c.sizes().begin(), c.sizes().end());
    const size_t nbytes = c.numel() * c.element_size();
    header[name] = {{"dtype", pcache::st_dtype_name(pcache::st_dtype_of(c.scalar_type()))},
                    {"shape", shape},
                    {"data_offsets", {data.size(), data.size() + nbytes}}};
    data.append(static_cast<const char*>(c.data_ptr()), nbytes);
  }
  header_edit(header);
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';
  std::ofstream out(path, std::ios::binary);
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << h << data;
}

inline void write_safetensors(const std::string& path,
                              const std::map<std::string, at::Tensor>& tensors) {
  write_safetensors(path, tensors, [](nlohmann::json&) {});
}

}  // namespace pcache::testing
