// Checkpoint: a Hugging Face model folder (config.json, one or several
// *.safetensors files, generation_config.json's stop tokens), opened and validated lazily per tensor.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "model/model_config.h"
#include "model/safetensors.h"
#include "model/weight_quant.h"
#include "pcache/status.h"

namespace pcache {

// model.safetensors.index.json is read up to this size (a 405B model's is ~200 KB).
inline constexpr size_t kMaxIndexJsonBytes = 16u << 20;

class Checkpoint {
 public:
  // Reads config.json and maps model.safetensors, or every shard named by
  // model.safetensors.index.json. Errors name the file at fault.
  static StatusOr<std::unique_ptr<Checkpoint>> open(const std::string& dir);
  // A checkpoint with no files but a config (a config.json file, or a folder
  // holding one): load() draws every weight at random (normal with the
  // config's initializer_range, norms 1, biases 0; seeded). For benchmarks at
  // real shapes, where the values do not change the cost of a forward pass.
  static StatusOr<std::unique_ptr<Checkpoint>> random(const std::string& config_path,
                                                      uint64_t seed);
  bool is_random() const { return random_seed_.has_value(); }
  // Random checkpoints only: a vocabulary of at least `size` (so that a larger
  // tokenizer fits a config whose model had a smaller one).
  void widen_vocab(int64_t size);

  const std::string& dir() const { return dir_; }
  const ModelConfig& config() const { return config_; }
  bool has(const std::string& name) const;

  // 16 hex digits: XXH3-64 of config.json and every weight file's bytes. Keys
  // cached states, so that states of one model are never used with another.
  // Computed on first call (reads every weight byte once, from the page cache
  // when the weights were just loaded).
  const std::string& fingerprint() const;

  // The tensor `name`, checked against `shape`, converted to `dtype` on
  // `device` (a fresh tensor that owns its memory).
  // Errors: NotFound (no such tensor), InvalidArgument (shape differs),
  // Unsupported (dtype other than F32/BF16/F16); all name file and tensor.
  StatusOr<at::Tensor> load(const std::string& name, const std::vector<int64_t>& shape,
                            at::ScalarType dtype, at::Device device) const;

  // Whether `name` is stored as int8 with a scale per row beside it (a
  // checkpoint written by quantize_checkpoint; docs/formats.md, "int8
  // checkpoints"). stored_weights(): kModelDtype when no tensor is, else
  // kInt8ZeroPoint when one has an offset too, else kInt8.
  bool is_int8(const std::string& name) const;
  WeightFormat stored_weights() const;
  // The int8 tensor `name` [out, in], its float32 scale [out] and offset
  // [out] (when stored) on `device`. Errors: NotFound, InvalidArgument
  // (shape), Corruption (a scale or offset of another dtype or shape, a scale
  // that is not finite and positive, an offset that is not finite); all name
  // file and tensor.
  StatusOr<Int8Weight> load_int8(const std::string& name, const std::vector<int64_t>& shape,
                                 at::Device device) const;

  // Every tensor's name, sorted; and a tensor as stored: a CPU view of the
  // mapped file in the file's dtype, valid while this Checkpoint lives
  // (NotFound; Unsupported for a dtype libtorch has no type for). Not for
  // random checkpoints (empty; NotFound).
  std::vector<std::string> tensor_names() const;
  StatusOr<at::Tensor> stored(const std::string& name) const;
  // The files the weights are read from (model.safetensors, or the index and
  // its shards), as paths.
  std::vector<std::string> weight_files() const;

 private:
  Checkpoint() = default;
  // The entry of tensor `name`, which must have `shape`: NotFound, or
  // InvalidArgument naming the file and both shapes.
  StatusOr<const StTensorInfo*> find(const std::string& name, const std::vector<int64_t>& shape) const;
  // The stored tensor `name` (present) converted to `dtype` on `device`, a fresh tensor.
  StatusOr<at::Tensor> copy_to(const std::string& name, at::ScalarType dtype,
                               at::Device device) const;
  std::string dir_;
  ModelConfig config_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> where_;
  std::string index_path_;  // model.safetensors.index.json, when the weights are sharded
  std::string config_text_;
  std::optional<uint64_t> random_seed_;
  double init_std_ = 0.02;
  mutable std::once_flag fingerprint_once_;
  mutable std::string fingerprint_;
};

}  // namespace pcache
