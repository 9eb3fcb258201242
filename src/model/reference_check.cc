#include "model/reference_check.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "model/safetensors.h"
#include "util/file_util.h"
#include "util/json_util.h"

namespace pcache {
namespace {

// Case chains: each entry is a list of case names run on one cache in order.
StatusOr<std::vector<std::vector<std::string>>> list_cases(const std::string& dir,
                                                           const SafetensorsFile& ref) {
  std::vector<std::vector<std::string>> chains;
  const std::string json_path = dir + "/reference.json";
  if (!std::filesystem::exists(json_path)) {
    const std::string suffix = ".input_ids";
    for (const auto& [name, info] : ref.tensors()) {
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        chains.push_back({name.substr(0, name.size() - suffix.size())});
      }
    }
    return chains;
  }
  PCACHE_ASSIGN_OR_RETURN(std::string text, read_file(json_path, 1u << 20, "reference.json"));
  PCACHE_ASSIGN_OR_RETURN(nlohmann::json j, parse_json(text, json_path));
  try {
    for (const auto& c : j.at("cases")) {
      std::string spec = c.at("case").get<std::string>();
      std::vector<std::string> chain;
      size_t start = 0;
      for (size_t plus; (plus = spec.find('+', start)) != std::string::npos; start = plus + 1) {
        chain.push_back(spec.substr(start, plus - start));
      }
      chain.push_back(spec.substr(start));
      chains.push_back(chain);
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::corruption(json_path + ": expected {\"cases\": [{\"case\": ...}]}: " + e.what());
  }
  return chains;
}

StatusOr<at::Tensor> read_tensor(const SafetensorsFile& ref, const std::string& name, StDType want,
                                 at::ScalarType type) {
  const StTensorInfo* info = ref.find(name);
  if (!info) return Status::not_found(ref.path() + ": tensor '" + name + "' is missing");
  if (info->dtype != want) {
    return Status::corruption(ref.path() + ": tensor '" + name + "' has dtype " + info->dtype_name);
  }
  return at::from_blob(const_cast<unsigned char*>(ref.data(*info)), info->shape,
                       at::TensorOptions().dtype(type))
      .clone();
}

StatusOr<std::vector<ReferenceCase>> run_cases(const LlamaModel& model, const SafetensorsFile& file,
                                               const std::vector<std::vector<std::string>>& chains,
                                               std::optional<at::ScalarType> rope_freq_dtype) {
  const SafetensorsFile* ref = &file;
  ForwardOptions options;
  options.rope_freq_dtype = rope_freq_dtype;
  std::vector<ReferenceCase> results;
  for (const auto& chain : chains) {
    KVCache cache = model.new_cache(1);
    for (size_t i = 0; i < chain.size(); ++i) {
      const std::string& name = chain[i];
      PCACHE_ASSIGN_OR_RETURN(at::Tensor ids,
                              read_tensor(*ref, name + ".input_ids", StDType::kI64, at::kLong));
      PCACHE_ASSIGN_OR_RETURN(at::Tensor pos,
                              read_tensor(*ref, name + ".position_ids", StDType::kI64, at::kLong));
      PCACHE_ASSIGN_OR_RETURN(at::Tensor want,
                              read_tensor(*ref, name + ".logits", StDType::kF32, at::kFloat));
      if (ids.dim() != 2 || ids.size(0) != 1 || want.dim() != 3 || want.size(1) != ids.size(1) ||
          want.size(2) != model.config().vocab_size) {
        return Status::invalid_argument(ref->path() + ": case '" + name +
                                        "': input_ids must be [1, T] and logits [1, T, vocab]");
      }
      PCACHE_ASSIGN_OR_RETURN(at::Tensor got, model.forward(ids, pos, cache, options));
      got = got.to(at::kCPU);
      ReferenceCase r;
      r.name = i == 0 ? name : name + " (after " + chain[i - 1] + ")";
      r.tokens = ids.size(1);
      r.max_abs_error = (got - want).abs().max().item<double>();
      r.top1_agreement = got.argmax(-1).eq(want.argmax(-1)).to(at::kDouble).mean().item<double>();
      results.push_back(r);
    }
  }
  return results;
}

double worst_error(const std::vector<ReferenceCase>& cases) {
  double worst = 0;
  for (const auto& c : cases) worst = std::max(worst, c.max_abs_error);
  return worst;
}

}  // namespace

StatusOr<ReferenceReport> check_reference(const LlamaModel& model, const std::string& dir) {
  PCACHE_ASSIGN_OR_RETURN(auto ref, SafetensorsFile::open(dir + "/reference.safetensors"));
  PCACHE_ASSIGN_OR_RETURN(auto chains, list_cases(dir, *ref));
  ReferenceReport report;
  PCACHE_ASSIGN_OR_RETURN(report.cases, run_cases(model, *ref, chains, std::nullopt));
  auto stored = parse_dtype(model.config().torch_dtype);
  if (stored.ok() && stored.value() != at::kFloat) {
    PCACHE_ASSIGN_OR_RETURN(auto rounded, run_cases(model, *ref, chains, stored.value()));
    if (worst_error(rounded) < worst_error(report.cases)) {
      report.cases = std::move(rounded);
      report.rope_frequencies = std::string("rounded to ") + model.config().torch_dtype;
    }
  }
  return report;
}

}  // namespace pcache
