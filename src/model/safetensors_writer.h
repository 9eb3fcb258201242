// Writing a .safetensors file (the layout of model/safetensors_format.h), one
// tensor at a time: the header, which holds every tensor's dtype, shape and
// offsets, is written first, then each tensor's bytes in the order given, so
// that a model's tensors need not all be in memory at once.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "pcache/status.h"

namespace pcache {

struct SafetensorsEntry {
  std::string name;
  StDType dtype = StDType::kOther;  // any but kOther
  std::vector<int64_t> shape;
  // The tensor's values when its turn comes: a CPU tensor of `shape` whose
  // element size is the dtype's (its bytes are written as they are, in
  // row-major order). May throw c10::Error.
  std::function<StatusOr<at::Tensor>()> values;
};

// Writes `entries` (names unique, none "__metadata__") and `metadata` to
// `path`, atomically (util/atomic_file.h): `path` holds the whole new file or
// what it held before. The header is padded with spaces to a multiple of 8
// bytes, so that the data section starts 8-byte aligned in a mapping; the
// tensors follow one another with no gaps (readers refuse gaps), so a
// tensor is aligned to its element size only if those before it keep it so.
// Errors: InvalidArgument (a duplicate or reserved name, kOther, values that
// do not match the entry's shape or element size: the tensor named), the
// callbacks' errors, IoError from the file.
Status write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                         const std::map<std::string, std::string>& metadata = {});

}  // namespace pcache
