#include "pcache/version.h"

#include <ATen/ATen.h>
#include <torch/version.h>

#if defined(PCACHE_HAVE_CUDA)
#include <ATen/cuda/CUDAContext.h>
#endif

namespace pcache {

std::string build_info() {
  std::string info = "libtorch " TORCH_VERSION;
#if defined(PCACHE_HAVE_CUDA) && defined(CUDA_VERSION)
  info += ", CUDA " + std::to_string(CUDA_VERSION / 1000) + "." +
          std::to_string(CUDA_VERSION % 1000 / 10);
#endif
  return info;
}

std::string devices_info() {
  std::string out = "cpu";
  try {
    if (!at::hasCUDA()) return out;
#if defined(PCACHE_HAVE_CUDA)
    for (int64_t i = 0; i < at::cuda::device_count(); ++i) {
      out += ", cuda:" + std::to_string(i) + " (" + at::cuda::getDeviceProperties(i)->name + ")";
    }
#endif
  } catch (const c10::Error&) {
    // A driver that fails to answer: the CPU is still there.
  }
  return out;
}

}  // namespace pcache
