#include "model/checkpoint.h"

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

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
  auto it = where_.find(name);
  if (it == where_.end())
    return Status::not_found(dir_ + ": tensor '" + name + "' is missing from the checkpoint");
  const SafetensorsFile& file = *it->second;
  const StTensorInfo& info = *file.find(name);
  if (info.shape != shape) {
    return Status::invalid_argument(file.path() + ": tensor '" + name + "' has shape " +
                                    shape_string(info.shape) + ", expected " + shape_string(shape) +
                                    " from config.json");
  }
  at::ScalarType src;
  switch (info.dtype) {
    case StDType::kF32: src = at::kFloat; break;
    case StDType::kBF16: src = at::kBFloat16; break;
    case StDType::kF16: src = at::kHalf; break;
    default:
      return Status::unsupported(file.path() + ": tensor '" + name + "' has dtype " +
                                 info.dtype_name + " (supported: F32, BF16, F16)");
  }
  try {
    // from_blob views the read-only mapping; the conversion makes an owned copy.
    at::Tensor view = at::from_blob(const_cast<unsigned char*>(file.data(info)), shape,
                                    at::TensorOptions().dtype(src));
    return view.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
  } catch (const c10::Error& e) {
    return Status::resource_exhausted(file.path() + ": tensor '" + name +
                                      "': " + e.what_without_backtrace());
  }
}

}  // namespace pcache
