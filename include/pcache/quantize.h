// quantize_checkpoint: `--weights int8` (or `int8-zp`) done once, ahead of
// time. A Hugging Face model folder's projection weights (attention q, k, v,
// o; MLP gate, up, down; an untied lm_head) are written as int8 with a
// float32 scale per output row (and an offset per row, `int8-zp`), exactly as
// loading with that `--weights` quantizes them, into a new model folder
// (docs/formats.md, "int8 checkpoints"). That folder loads with those int8
// weights in every command, about half the size on disk and with nothing to
// quantize when it loads.
//
// Contract
// - `out_dir` is created (with its parents) and must not exist or be empty;
//   it must not be `model_dir`. Its model.safetensors is written whole or not
//   at all (util/atomic_file.h); every other file of `model_dir` but the
//   weight files (config.json, generation_config.json, the tokenizer, a
//   reference.safetensors, ...) is copied beside it. On an error, `out_dir`
//   is left as it was (absent, or empty).
// - Reads every weight once, one tensor at a time, on the CPU.
// - Errors: NotFound / Corruption / Unsupported from opening the checkpoint
//   or reading a tensor (file and tensor named; a tensor of a dtype pcache
//   has no type for, or a projection that is not F32, BF16 or F16), InvalidArgument (`out_dir` is the source, not
//   empty, the source is already int8, `weights` is not int8 or int8-zp), IoError (writing), Internal (a
//   libtorch failure). Safe from any thread; calls do not share state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pcache/status.h"

namespace pcache {

struct QuantizeReport {
  int64_t quantized_tensors = 0;  // projections written as int8
  int64_t kept_tensors = 0;       // written as the source held them
  int64_t source_weight_bytes = 0, int8_weight_bytes = 0;  // the weight files' sizes
  std::vector<std::string> copied_files;  // names, in out_dir
};

[[nodiscard]] StatusOr<QuantizeReport> quantize_checkpoint(const std::string& model_dir,
                                                           const std::string& out_dir,
                                                           const std::string& weights = "int8");

}  // namespace pcache
