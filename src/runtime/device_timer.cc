#include "pcache/device_timer.h"

#include <chrono>
#include <optional>

#if defined(PCACHE_HAVE_CUDA)
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace pcache {

struct DeviceTimer::Impl {
  bool cuda = false;
  std::chrono::steady_clock::time_point begin;
#if defined(PCACHE_HAVE_CUDA)
  std::optional<at::cuda::CUDAEvent> start, stop;
#endif
};

DeviceTimer::DeviceTimer(const Engine& engine) : impl_(std::make_unique<Impl>()) {
#if defined(PCACHE_HAVE_CUDA)
  if (engine.device().rfind("cuda", 0) == 0) {
    impl_->cuda = true;
    impl_->start.emplace(cudaEventDefault);
    impl_->stop.emplace(cudaEventDefault);
  }
#endif
}

DeviceTimer::~DeviceTimer() = default;

void DeviceTimer::start() {
#if defined(PCACHE_HAVE_CUDA)
  if (impl_->cuda) {
    impl_->start->record(c10::cuda::getCurrentCUDAStream());
    return;
  }
#endif
  impl_->begin = std::chrono::steady_clock::now();
}

double DeviceTimer::stop_ms() {
#if defined(PCACHE_HAVE_CUDA)
  if (impl_->cuda) {
    impl_->stop->record(c10::cuda::getCurrentCUDAStream());
    impl_->stop->synchronize();
    return impl_->start->elapsed_time(*impl_->stop);
  }
#endif
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - impl_->begin)
      .count();
}

const char* DeviceTimer::method() const { return impl_->cuda ? "cuda events" : "host clock"; }

}  // namespace pcache
