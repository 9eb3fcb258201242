#include "model/safetensors.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "model/safetensors_format.h"
#include "util/excerpt.h"
#include "util/json_util.h"

namespace pcache {
namespace {

using json = nlohmann::json;
namespace fmt = safetensors_format;

// Every dtype pcache knows: its name in the format and its libtorch type.
struct DTypeRow {
  StDType dtype;
  const char* name;
  at::ScalarType type;
};
constexpr DTypeRow kDTypes[] = {
    {StDType::kF64, "F64", at::kDouble}, {StDType::kF32, "F32", at::kFloat},
    {StDType::kF16, "F16", at::kHalf},   {StDType::kBF16, "BF16", at::kBFloat16},
    {StDType::kI64, "I64", at::kLong},   {StDType::kI32, "I32", at::kInt},
    {StDType::kI16, "I16", at::kShort},  {StDType::kI8, "I8", at::kChar},
    {StDType::kU8, "U8", at::kByte},     {StDType::kBool, "BOOL", at::kBool}};

StDType parse_dtype(const std::string& s) {
  for (const DTypeRow& r : kDTypes) {
    if (s == r.name) return r.dtype;
  }
  return StDType::kOther;
}

Status parse_entry(const std::string& path, const std::string& name, const json& v,
                   uint64_t data_size, StTensorInfo* out) {
  auto bad = [&](const std::string& what) {
    return Status::corruption(path + ": tensor " + excerpt(name) + ": " + what);
  };
  if (!v.is_object()) return bad("header entry is not an object");
  auto dt = v.find("dtype");
  auto sh = v.find("shape");
  auto off = v.find("data_offsets");
  if (dt == v.end() || !dt->is_string()) return bad("missing or non-string \"dtype\"");
  if (sh == v.end() || !sh->is_array()) return bad("missing or non-array \"shape\"");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned()) {
    return bad("\"data_offsets\" is not a pair of non-negative integers");
  }
  out->name = name;
  out->dtype_name = dt->get<std::string>();
  out->dtype = parse_dtype(out->dtype_name);
  uint64_t numel = 1;
  for (const json& d : *sh) {
    if (!d.is_number_unsigned())
      return bad("shape " + json_excerpt(*sh) + " has a negative or non-integer dimension");
    uint64_t n = d.get<uint64_t>();
    if (n != 0 && numel > (uint64_t{1} << 62) / n)
      return bad("shape " + json_excerpt(*sh) + " is too large");
    numel *= n;
    out->shape.push_back(static_cast<int64_t>(n));
  }
  out->begin = (*off)[0].get<uint64_t>();
  out->end = (*off)[1].get<uint64_t>();
  if (out->begin > out->end) return bad("data_offsets begin > end");
  if (out->end > data_size) {
    return bad("data ends at byte " + std::to_string(out->end) +
               " of the data section, but the file holds only " + std::to_string(data_size) +
               " (truncated file?)");
  }
  size_t elem = st_dtype_size(out->dtype);
  if (elem != 0 && numel * elem != out->end - out->begin) {
    return bad("shape " + json_excerpt(*sh) + " of " + out->dtype_name + " needs " +
               std::to_string(numel * elem) + " bytes but data_offsets span " +
               std::to_string(out->end - out->begin));
  }
  return Status::ok_status();
}

}  // namespace

int64_t StTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t st_dtype_size(StDType dtype) {
  switch (dtype) {
    case StDType::kF64:
    case StDType::kI64: return 8;
    case StDType::kF32:
    case StDType::kI32: return 4;
    case StDType::kF16:
    case StDType::kBF16:
    case StDType::kI16: return 2;
    case StDType::kI8:
    case StDType::kU8:
    case StDType::kBool: return 1;
    case StDType::kOther: return 0;
  }
  return 0;
}

const char* st_dtype_name(StDType dtype) {
  for (const DTypeRow& r : kDTypes) {
    if (r.dtype == dtype) return r.name;
  }
  return "";
}

std::optional<at::ScalarType> scalar_type_of(StDType dtype) {
  for (const DTypeRow& r : kDTypes) {
    if (r.dtype == dtype) return r.type;
  }
  return std::nullopt;
}

StDType st_dtype_of(at::ScalarType type) {
  for (const DTypeRow& r : kDTypes) {
    if (r.type == type) return r.dtype;
  }
  return StDType::kOther;
}

StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  PCACHE_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  if (file.size() < fmt::kHeaderSizeBytes) {
    return Status::corruption(path + ": " + std::to_string(file.size()) +
                              " bytes is too short for a safetensors file");
  }
  uint64_t header_len = 0;
  for (size_t i = 0; i < fmt::kHeaderSizeBytes; ++i) {
    header_len |= uint64_t{file.data()[i]} << (8 * i);  // little-endian
  }
  if (header_len > fmt::kMaxHeaderBytes || header_len > file.size() - fmt::kHeaderSizeBytes) {
    return Status::corruption(path + ": header claims " + std::to_string(header_len) +
                              " bytes but the file has " + std::to_string(file.size()) +
                              " (truncated or not a safetensors file)");
  }
  const char* h = reinterpret_cast<const char*>(file.data() + fmt::kHeaderSizeBytes);
  PCACHE_ASSIGN_OR_RETURN(json header, parse_json(std::string_view(h, header_len), path + " (header)"));
  if (!header.is_object()) return Status::corruption(path + ": header is not a JSON object");

  std::unique_ptr<SafetensorsFile> st(new SafetensorsFile());
  const uint64_t data_size = file.size() - fmt::kHeaderSizeBytes - header_len;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == fmt::kMetadataKey) {
      if (!it->is_object()) return Status::corruption(path + ": __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (m->is_string()) st->metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    StTensorInfo info;
    PCACHE_RETURN_IF_ERROR(parse_entry(path, it.key(), it.value(), data_size, &info));
    st->tensors_.emplace(it.key(), std::move(info));
  }
  // Tensors never share bytes: overlapping offsets mean a damaged or forged header.
  std::vector<const StTensorInfo*> by_offset;
  for (const auto& [name, info] : st->tensors_) {
    if (info.end > info.begin) by_offset.push_back(&info);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const StTensorInfo* a, const StTensorInfo* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return Status::corruption(path + ": tensors " + excerpt(by_offset[i - 1]->name) + " and " +
                                excerpt(by_offset[i]->name) + " overlap (data_offsets " +
                                std::to_string(by_offset[i - 1]->begin) + ".." +
                                std::to_string(by_offset[i - 1]->end) + " and " +
                                std::to_string(by_offset[i]->begin) + ".." +
                                std::to_string(by_offset[i]->end) + ")");
    }
  }
  st->data_start_ = file.data() + fmt::kHeaderSizeBytes + header_len;
  st->file_ = std::move(file);
  return st;
}

const StTensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

}  // namespace pcache
