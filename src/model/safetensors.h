// SafetensorsFile: a memory-mapped, validated .safetensors file.
//
// open() checks the whole header before anything is used: sizes, offsets and
// dtypes must be consistent with the file, so that a truncated or lying file
// is reported (naming the file and the tensor) and never read out of bounds.
// Immutable after open(); safe to share between threads.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>
#include <optional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pcache/status.h"
#include "util/file_util.h"

namespace pcache {

enum class StDType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool, kOther };

struct StTensorInfo {
  std::string name;
  std::string dtype_name;  // as in the file: "BF16", "F32", ...
  StDType dtype = StDType::kOther;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the data section
  uint64_t end = 0;
  int64_t numel() const;
};

// Bytes per element; 0 for kOther.
size_t st_dtype_size(StDType dtype);
// "F32", "BF16", "I8", ... as the format names `dtype`; "" for kOther.
const char* st_dtype_name(StDType dtype);
// The libtorch type of a dtype (none for kOther), and the dtype of a libtorch
// type (kOther when the format has none).
std::optional<at::ScalarType> scalar_type_of(StDType dtype);
StDType st_dtype_of(at::ScalarType type);

class SafetensorsFile {
 public:
  // Errors: NotFound / IoError (the file), Corruption (header or offsets do
  // not fit the file; the message names the tensor when one is at fault).
  static StatusOr<std::unique_ptr<SafetensorsFile>> open(const std::string& path);

  const std::string& path() const { return file_.path(); }
  // The whole file, header included.
  const unsigned char* bytes() const { return file_.data(); }
  size_t size() const { return file_.size(); }
  const std::map<std::string, StTensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when absent.
  const StTensorInfo* find(const std::string& name) const;
  // The tensor's bytes inside the mapping (valid while this object lives).
  const unsigned char* data(const StTensorInfo& info) const { return data_start_ + info.begin; }

 private:
  SafetensorsFile() = default;
  MappedFile file_;
  const unsigned char* data_start_ = nullptr;
  std::map<std::string, StTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace pcache
