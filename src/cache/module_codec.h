// The module file format (docs/formats.md, "Module cache files") in and out
// of bytes: the one codec of the module store's disk files and of its remote
// values, so that a value means the same wherever it is kept.
#pragma once

#include <ATen/ATen.h>

#include <cstddef>
#include <memory>
#include <string>

#include "cache/module_kv.h"
#include "pcache/status.h"
#include "util/byte_sink.h"

namespace pcache {

// Writes `kv` (consistent shapes, at least one layer) stored under `key` (its
// ModuleKey::to_string(), at most module_file_format::kMaxKeyBytes) to
// `sink`; with `int8`, K and V quantized per channel (as they are when they
// hold inf or NaN, which int8 cannot store). Errors: the sink's.
Status write_module(ByteSink& sink, const std::string& key, const ModuleKV& kv, bool int8);

// The entry that `data` (`size` bytes, read only during the call) holds for
// `key`, its tensors on `device` in the dtype it was written from. Everything
// is checked before anything is used: magic, version, key, flags, shapes
// against the size, checksum. Errors: Corruption "<label>: why" for anything
// wrong (`label` names where the bytes came from: a path, a remote key).
// May throw what ATen throws (out of memory); callers run it through
// without_exceptions.
StatusOr<std::shared_ptr<const ModuleKV>> read_module(const unsigned char* data, size_t size,
                                                      const std::string& label,
                                                      const std::string& key, at::Device device);

}  // namespace pcache
