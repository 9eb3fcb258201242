// `pcache quantize`: a model folder's projections written as int8 once, into
// a new folder that every command loads with int8 weights (pcache/quantize.h).
#include <cstdio>
#include <filesystem>

#include "cli/common.h"
#include "pcache/quantize.h"

namespace pcache::cli {

int run_quantize(const std::string& model_dir, std::string out_dir, bool zero_point) {
  const std::string weights = zero_point ? "int8-zp" : "int8";
  if (out_dir.empty()) {
    // Beside the folder, named after it (also for "." or a trailing "/").
    std::filesystem::path base = std::filesystem::absolute(model_dir).lexically_normal();
    if (!base.has_filename()) base = base.parent_path();
    out_dir = base.string() + "-" + weights;
  }
  std::fprintf(stderr, "quantizing %s into %s ...\n", model_dir.c_str(), out_dir.c_str());
  auto r = quantize_checkpoint(model_dir, out_dir, weights);
  if (!r.ok()) return report(r.status());
  std::printf("%s: %lld projections as %s, %lld tensors as they were; weights %.1f MB -> %.1f MB\n",
              out_dir.c_str(), static_cast<long long>(r->quantized_tensors), weights.c_str(),
              static_cast<long long>(r->kept_tensors), r->source_weight_bytes / 1e6,
              r->int8_weight_bytes / 1e6);
  std::string copied;
  for (const std::string& f : r->copied_files) copied += (copied.empty() ? "" : ", ") + f;
  std::printf("copied beside it: %s\n", copied.empty() ? "nothing" : copied.c_str());
  return 0;
}

}  // namespace pcache::cli
