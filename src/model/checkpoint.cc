#include "model/checkpoint.h"

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "model/int8_checkpoint_format.h"
#include "util/excerpt.h"
#include "util/file_util.h"
#include "util/json_util.h"
#include "xxhash.h"

namespace pcache {
namespace {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

// The shard files named by an index.json, in first-seen order.
StatusOr<std::vector<std::string>> read_index(const std::string& path) {
  PCACHE_ASSIGN_OR_RETURN(std::string text,
                          read_file(path, kMaxIndexJsonBytes, "safetensors index files"));
  PCACHE_ASSIGN_OR_RETURN(nlohmann::json j, parse_json(text, path));
  auto map = j.find("weight_map");
  if (!j.is_object() || map == j.end() || !map->is_object()) {
    return Status::corruption(path + ": no \"weight_map\" object");
  }
  std::vector<std::string> files;
  std::set<std::string> seen;
  for (auto it = map->begin(); it != map->end(); ++it) {
    if (!it->is_string())
      return Status::corruption(path + ": weight_map entry " + excerpt(it.key()) +
                                " is not a file name");
    std::string f = it->get<std::string>();
    if (f.empty() || f == "." || f == ".." || f.find('/') != std::string::npos)
      return Status::corruption(path + ": shard name " + excerpt(f) + " is not a plain file name");
    if (seen.insert(f).second) files.push_back(f);
  }
  if (files.empty()) return Status::corruption(path + ": weight_map is empty");
  return files;
}

}  // namespace

StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::open(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::not_found(dir + ": not a model folder");
  std::unique_ptr<Checkpoint> ck(new Checkpoint());
  ck->dir_ = dir;
  PCACHE_ASSIGN_OR_RETURN(ck->config_text_,
                          read_file(dir + "/config.json", kMaxConfigJsonBytes, "config.json"));
  PCACHE_ASSIGN_OR_RETURN(ck->config_, parse_model_config(ck->config_text_, dir + "/config.json"));
  const std::string generation = dir + "/generation_config.json";
  if (fs::exists(generation, ec)) {
    PCACHE_ASSIGN_OR_RETURN(std::string text,
                            read_file(generation, kMaxConfigJsonBytes, "generation_config.json"));
    PCACHE_RETURN_IF_ERROR(add_generation_config(text, generation, &ck->config_));
  }

  std::vector<std::string> names;
  const std::string index = dir + "/model.safetensors.index.json";
  if (fs::exists(index, ec)) {
    PCACHE_ASSIGN_OR_RETURN(names, read_index(index));
    ck->index_path_ = index;
  } else if (fs::exists(dir + "/model.safetensors", ec)) {
    names = {"model.safetensors"};
  } else {
    return Status::not_found(dir + ": no model.safetensors or model.safetensors.index.json");
  }
  for (const std::string& name : names) {
    PCACHE_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open(dir + "/" + name));
    for (const auto& [tensor, info] : file->tensors()) {
      auto [it, fresh] = ck->where_.emplace(tensor, file.get());
      if (!fresh) {
        return Status::corruption(file->path() + ": tensor " + excerpt(tensor) +
                                  " is also in " + it->second->path());
      }
    }
    ck->files_.push_back(std::move(file));
  }
  return ck;
}

StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::random(const std::string& config_path,
                                                         uint64_t seed) {
  std::error_code ec;
  const bool is_dir = std::filesystem::is_directory(config_path, ec);
  const std::string file = is_dir ? config_path + "/config.json" : config_path;
  std::unique_ptr<Checkpoint> ck(new Checkpoint());
  ck->dir_ = is_dir ? config_path : std::filesystem::path(config_path).parent_path().string();
  if (ck->dir_.empty()) ck->dir_ = ".";
  PCACHE_ASSIGN_OR_RETURN(ck->config_text_, read_file(file, kMaxConfigJsonBytes, "config.json"));
  PCACHE_ASSIGN_OR_RETURN(ck->config_, parse_model_config(ck->config_text_, file));
  // parse_model_config accepted the text; a missing range keeps the default.
  PCACHE_ASSIGN_OR_RETURN(nlohmann::json j, parse_json(ck->config_text_, file));
  if (auto it = j.find("initializer_range"); it != j.end() && it->is_number()) {
    ck->init_std_ = it->get<double>();
  }
  ck->random_seed_ = seed;
  ck->config_text_ += "\nrandom weights, seed " + std::to_string(seed);  // its own fingerprint
  return ck;
}

void Checkpoint::widen_vocab(int64_t size) {
  if (random_seed_ && size > config_.vocab_size) config_.vocab_size = size;
}

bool Checkpoint::has(const std::string& name) const {
  if (random_seed_) return false;  // optional tensors (biases) are absent from random models
  return where_.count(name) != 0;
}

const std::string& Checkpoint::fingerprint() const {
  std::call_once(fingerprint_once_, [this] {
    XXH3_state_t* state = XXH3_createState();
    XXH3_64bits_reset(state);
    XXH3_64bits_update(state, config_text_.data(), config_text_.size());
    for (const auto& file : files_) XXH3_64bits_update(state, file->bytes(), file->size());
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx",
                  static_cast<unsigned long long>(XXH3_64bits_digest(state)));
    XXH3_freeState(state);
    fingerprint_ = hex;
  });
  return fingerprint_;
}

StatusOr<at::Tensor> Checkpoint::load(const std::string& name, const std::vector<int64_t>& shape,
                                      at::ScalarType dtype, at::Device device) const {
  if (random_seed_) {
    try {
      auto options = at::TensorOptions().dtype(dtype).device(device);
      const bool is_norm =
          name.size() > 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0;
      if (is_norm) return at::ones(shape, options);
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0)
        return at::zeros(shape, options);
      // A per-tensor seed: the same weights whatever the loading order or device.
      at::manual_seed(*random_seed_ ^ XXH3_64bits(name.data(), name.size()));
      return at::randn(shape, options).mul_(init_std_);
    } catch (const c10::Error& e) {
      return Status::resource_exhausted("random tensor '" + name +
                                        "': " + e.what_without_backtrace());
    }
  }
  PCACHE_ASSIGN_OR_RETURN(const StTensorInfo* found, find(name, shape));
  const StTensorInfo& info = *found;
  const SafetensorsFile& file = *where_.at(name);
  if (info.dtype != StDType::kF32 && info.dtype != StDType::kBF16 && info.dtype != StDType::kF16) {
    return Status::unsupported(file.path() + ": tensor '" + name + "' has dtype " +
                               info.dtype_name + " (supported: F32, BF16, F16" +
                               (is_int8(name) ? "; it is an int8 projection, read with its scale" : "") +
                               ")");
  }
  return copy_to(name, dtype, device);
}

StatusOr<const StTensorInfo*> Checkpoint::find(const std::string& name,
                                               const std::vector<int64_t>& shape) const {
  auto it = where_.find(name);
  if (it == where_.end())
    return Status::not_found(dir_ + ": tensor '" + name + "' is missing from the checkpoint");
  const StTensorInfo* info = it->second->find(name);
  if (info->shape != shape) {
    return Status::invalid_argument(it->second->path() + ": tensor '" + name + "' has shape " +
                                    shape_string(info->shape) + ", expected " + shape_string(shape) +
                                    " from config.json");
  }
  return info;
}

StatusOr<at::Tensor> Checkpoint::stored(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end())
    return Status::not_found(dir_ + ": tensor '" + name + "' is missing from the checkpoint");
  const SafetensorsFile& file = *it->second;
  const StTensorInfo& info = *file.find(name);
  const std::optional<at::ScalarType> type = scalar_type_of(info.dtype);
  if (!type) {
    return Status::unsupported(file.path() + ": tensor '" + name + "' has dtype " + info.dtype_name);
  }
  // from_blob views the read-only mapping: callers copy before they write.
  return at::from_blob(const_cast<unsigned char*>(file.data(info)), info.shape,
                       at::TensorOptions().dtype(*type));
}

StatusOr<at::Tensor> Checkpoint::copy_to(const std::string& name, at::ScalarType dtype,
                                         at::Device device) const {
  try {
    PCACHE_ASSIGN_OR_RETURN(at::Tensor view, stored(name));
    return view.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
  } catch (const c10::Error& e) {
    return Status::resource_exhausted(where_.at(name)->path() + ": tensor '" + name +
                                      "': " + e.what_without_backtrace());
  }
}

bool Checkpoint::is_int8(const std::string& name) const {
  auto it = where_.find(name);
  return it != where_.end() && it->second->find(name)->dtype == StDType::kI8 &&
         where_.count(name + int8_checkpoint_format::kScaleSuffix) != 0;
}

WeightFormat Checkpoint::stored_weights() const {
  WeightFormat found = WeightFormat::kModelDtype;
  for (const auto& [name, file] : where_) {
    if (!is_int8(name)) continue;
    if (where_.count(name + int8_checkpoint_format::kOffsetSuffix)) return WeightFormat::kInt8ZeroPoint;
    found = WeightFormat::kInt8;
  }
  return found;
}

StatusOr<Int8Weight> Checkpoint::load_int8(const std::string& name,
                                           const std::vector<int64_t>& shape,
                                           at::Device device) const {
  const std::string scale_name = name + int8_checkpoint_format::kScaleSuffix;
  if (!is_int8(name)) {
    return Status::not_found(dir_ + ": tensor '" + name + "' is not stored as int8 with '" +
                             scale_name + "' beside it");
  }
  PCACHE_RETURN_IF_ERROR(find(name, shape).status());
  if (shape.size() != 2) {
    return Status::invalid_argument(dir_ + ": tensor '" + name + "' read as int8 with shape " +
                                    shape_string(shape) + " (expected [out, in])");
  }
  // A row's float32 values beside the int8 tensor (its scale or offset),
  // checked: a damaged one would turn its whole row into NaN or zero, silently.
  auto per_row = [&](const std::string& row_name, bool positive) -> StatusOr<at::Tensor> {
    const SafetensorsFile& file = *where_.at(row_name);
    const StTensorInfo& info = *file.find(row_name);
    if (info.dtype != StDType::kF32 || info.shape != std::vector<int64_t>{shape[0]}) {
      return Status::corruption(file.path() + ": tensor '" + row_name + "' is " + info.dtype_name +
                                " " + shape_string(info.shape) + ", expected F32 [" +
                                std::to_string(shape[0]) + "]");
    }
    PCACHE_ASSIGN_OR_RETURN(at::Tensor values, copy_to(row_name, at::kFloat, at::kCPU));
    at::Tensor good = at::isfinite(values);
    if (positive) good &= values > 0;
    if (!good.all().item<bool>()) {
      return Status::corruption(file.path() + ": tensor '" + row_name + "' holds a value that is not " +
                                (positive ? "finite and positive" : "finite"));
    }
    try {
      return values.to(device);
    } catch (const c10::Error& e) {
      return Status::resource_exhausted(file.path() + ": tensor '" + row_name +
                                        "': " + e.what_without_backtrace());
    }
  };
  Int8Weight w;
  PCACHE_ASSIGN_OR_RETURN(w.scale, per_row(scale_name, true));
  const std::string offset_name = name + int8_checkpoint_format::kOffsetSuffix;
  if (where_.count(offset_name)) {
    PCACHE_ASSIGN_OR_RETURN(w.offset, per_row(offset_name, false));
  }
  PCACHE_ASSIGN_OR_RETURN(w.values, copy_to(name, at::kChar, device));
  return w;
}

std::vector<std::string> Checkpoint::tensor_names() const {
  std::vector<std::string> names;
  for (const auto& [name, file] : where_) names.push_back(name);
  return names;
}

std::vector<std::string> Checkpoint::weight_files() const {
  std::vector<std::string> paths;
  if (!index_path_.empty()) paths.push_back(index_path_);
  for (const auto& f : files_) paths.push_back(f->path());
  return paths;
}

}  // namespace pcache
