#include "model/safetensors_writer.h"

#include <nlohmann/json.hpp>
#include <set>

#include "model/safetensors_format.h"
#include "util/atomic_file.h"
#include "util/excerpt.h"

namespace pcache {

namespace fmt = safetensors_format;

Status write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                         const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[fmt::kMetadataKey] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const SafetensorsEntry& e : entries) {
    auto bad = [&](const std::string& what) {
      return Status::invalid_argument(path + ": tensor " + excerpt(e.name) + ": " + what);
    };
    if (e.name == fmt::kMetadataKey) return bad("the name is reserved for metadata");
    if (!names.insert(e.name).second) return bad("named twice");
    if (e.dtype == StDType::kOther) return bad("no dtype");
    uint64_t bytes = st_dtype_size(e.dtype);
    for (int64_t d : e.shape) {
      if (d < 0) return bad("negative dimension");
      bytes *= static_cast<uint64_t>(d);
    }
    header[e.name] = {{"dtype", st_dtype_name(e.dtype)},
                      {"shape", e.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  AtomicFileWriter file(path);
  PCACHE_RETURN_IF_ERROR(file.open());
  unsigned char size_bytes[fmt::kHeaderSizeBytes];
  for (size_t i = 0; i < fmt::kHeaderSizeBytes; ++i) {
    size_bytes[i] = static_cast<unsigned char>(static_cast<uint64_t>(text.size()) >> (8 * i));
  }
  PCACHE_RETURN_IF_ERROR(file.write(size_bytes, sizeof size_bytes));
  PCACHE_RETURN_IF_ERROR(file.write(text.data(), text.size()));
  for (const SafetensorsEntry& e : entries) {
    at::Tensor t;
    try {
      PCACHE_ASSIGN_OR_RETURN(t, e.values());
      if (!t.device().is_cpu() || t.sizes().vec() != e.shape ||
          t.element_size() != static_cast<int64_t>(st_dtype_size(e.dtype))) {
        return Status::invalid_argument(path + ": tensor " + excerpt(e.name) + ": values of shape " +
                                        std::string(c10::str(t.sizes())) + " and " +
                                        std::to_string(t.element_size()) + "-byte elements for " +
                                        st_dtype_name(e.dtype) + " " +
                                        std::string(c10::str(at::IntArrayRef(e.shape))));
      }
      t = t.contiguous();
    } catch (const c10::Error& err) {
      return Status::internal(path + ": tensor " + excerpt(e.name) + ": " +
                              err.what_without_backtrace());
    }
    PCACHE_RETURN_IF_ERROR(file.write(t.data_ptr(), t.numel() * t.element_size()));
  }
  return file.commit();
}

}  // namespace pcache
