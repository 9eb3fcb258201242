// Test helper: writes tensors as a .safetensors file, and copies fixture
// checkpoints with changes, to build damaged and variant checkpoints.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace pcache::testing {

inline std::string st_dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "F32";
    case at::kBFloat16: return "BF16";
    case at::kHalf: return "F16";
    case at::kLong: return "I64";
    case at::kInt: return "I32";
    case at::kDouble: return "F64";
    default: return "U8";
  }
}

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
    header[name] = {{"dtype", st_dtype_name(c.scalar_type())},
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
