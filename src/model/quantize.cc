#include "pcache/quantize.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>

#include "model/checkpoint.h"
#include "model/int8_checkpoint_format.h"
#include "model/llama.h"
#include "model/safetensors_writer.h"
#include "model/weight_quant.h"

namespace pcache {
namespace {

namespace fs = std::filesystem;
namespace fmt = int8_checkpoint_format;

int64_t file_bytes(const std::vector<std::string>& paths) {
  int64_t n = 0;
  std::error_code ec;
  for (const std::string& p : paths) n += static_cast<int64_t>(fs::file_size(p, ec));
  return n;
}

// `*made`: set once out_dir is there to write into (true when this call made the folder).
StatusOr<QuantizeReport> quantize(const std::string& model_dir, const std::string& out_dir,
                                  const std::string& weights, std::optional<bool>* made) {
  PCACHE_ASSIGN_OR_RETURN(const WeightFormat format, parse_weight_format(weights));
  if (!is_int8_format(format)) {
    return Status::invalid_argument("quantize: weights \"" + weights + "\" (expected int8 or int8-zp)");
  }
  std::error_code ec;
  if (fs::exists(out_dir, ec) && fs::exists(model_dir, ec) && fs::equivalent(model_dir, out_dir, ec)) {
    return Status::invalid_argument(out_dir + ": is the source folder; quantize into another");
  }
  PCACHE_ASSIGN_OR_RETURN(auto ck, Checkpoint::open(model_dir));
  if (is_int8_format(ck->stored_weights())) {
    return Status::invalid_argument(model_dir + ": its weights are int8 already");
  }
  if (fs::exists(out_dir, ec) && !(fs::is_directory(out_dir, ec) && fs::is_empty(out_dir, ec))) {
    return Status::invalid_argument(out_dir + ": exists and is not an empty folder");
  }
  const bool existed = fs::exists(out_dir, ec);
  fs::create_directories(out_dir, ec);
  if (ec) return Status::io_error(out_dir + ": cannot create: " + ec.message());
  *made = !existed;

  QuantizeReport report;
  std::vector<SafetensorsEntry> entries;
  const Checkpoint& source = *ck;
  for (const std::string& name : source.tensor_names()) {
    PCACHE_ASSIGN_OR_RETURN(at::Tensor view, source.stored(name));
    const std::vector<int64_t> shape = view.sizes().vec();
    if (is_projection_weight(name, source.config()) && shape.size() == 2 && view.is_floating_point()) {
      // The values, scale and offset are computed once, at the values' turn,
      // and the scale and offset written right after them.
      auto quantized = std::make_shared<Int8Weight>();
      entries.push_back({name, StDType::kI8, shape,
                         [&source, name, shape, quantized, format]() -> StatusOr<at::Tensor> {
                           PCACHE_ASSIGN_OR_RETURN(at::Tensor w, source.load(name, shape, at::kFloat, at::kCPU));
                           *quantized = quantize_rows_int8(w, format);
                           return std::move(quantized->values);
                         }});
      entries.push_back({name + fmt::kScaleSuffix, StDType::kF32, {shape[0]},
                         [quantized]() -> StatusOr<at::Tensor> { return std::move(quantized->scale); }});
      if (format == WeightFormat::kInt8ZeroPoint) {
        entries.push_back({name + fmt::kOffsetSuffix, StDType::kF32, {shape[0]},
                           [quantized]() -> StatusOr<at::Tensor> { return std::move(quantized->offset); }});
      }
      ++report.quantized_tensors;
    } else {
      entries.push_back({name, st_dtype_of(view.scalar_type()), shape,
                         [view]() -> StatusOr<at::Tensor> { return view; }});
      ++report.kept_tensors;
    }
  }
  const std::string out_file = out_dir + "/model.safetensors";
  PCACHE_RETURN_IF_ERROR(write_safetensors(out_file, entries,
                                           {{"format", "pt"},
                                            {fmt::kWeightsKey, format == WeightFormat::kInt8
                                                                   ? fmt::kWeightsValue
                                                                   : fmt::kZeroPointWeightsValue},
                                            {fmt::kSourceKey, source.fingerprint()}}));

  const std::vector<std::string> weight_files = source.weight_files();
  // As readable as the source (the writer creates its file 0600).
  fs::permissions(out_file, fs::status(weight_files.back()).permissions(), ec);
  std::set<fs::path> skip;
  for (const std::string& p : weight_files) skip.insert(fs::weakly_canonical(p));
  for (const fs::directory_entry& e : fs::directory_iterator(model_dir, ec)) {
    if (!e.is_regular_file() || skip.count(fs::weakly_canonical(e.path()))) continue;
    const std::string name = e.path().filename().string();
    fs::copy_file(e.path(), out_dir + "/" + name, ec);
    if (ec) return Status::io_error(out_dir + "/" + name + ": cannot copy: " + ec.message());
    report.copied_files.push_back(name);
  }
  if (ec) return Status::io_error(model_dir + ": cannot list: " + ec.message());
  std::sort(report.copied_files.begin(), report.copied_files.end());
  report.source_weight_bytes = file_bytes(weight_files);
  report.int8_weight_bytes = file_bytes({out_file});
  return report;
}

}  // namespace

StatusOr<QuantizeReport> quantize_checkpoint(const std::string& model_dir,
                                             const std::string& out_dir, const std::string& weights) {
  std::optional<bool> made;
  StatusOr<QuantizeReport> r = [&]() -> StatusOr<QuantizeReport> {
    try {
      return quantize(model_dir, out_dir, weights, &made);
    } catch (const c10::Error& e) {
      return Status::internal(model_dir + ": quantizing: " + e.what_without_backtrace());
    } catch (const fs::filesystem_error& e) {
      return Status::io_error(std::string("quantizing: ") + e.what());
    }
  }();
  if (!r.ok() && made) {
    // No half-written model folder is left behind: out_dir goes back to
    // what it was (absent, or empty).
    std::error_code ec;
    if (*made) {
      fs::remove_all(out_dir, ec);
    } else {
      for (const fs::directory_entry& e : fs::directory_iterator(out_dir, ec)) fs::remove_all(e.path(), ec);
    }
  }
  return r;
}

}  // namespace pcache
