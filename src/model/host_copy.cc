#include "model/host_copy.h"

#if defined(PCACHE_HAVE_CUDA)
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace pcache {

#if defined(PCACHE_HAVE_CUDA)
struct HostCopy::Pending {
  at::cuda::CUDAEvent done{cudaEventDisableTiming};
};
#else
struct HostCopy::Pending {};
#endif

HostCopy::HostCopy() = default;
HostCopy::~HostCopy() = default;
HostCopy::HostCopy(HostCopy&&) noexcept = default;
HostCopy& HostCopy::operator=(HostCopy&&) noexcept = default;

HostCopy::HostCopy(const at::Tensor& tensor) {
#if defined(PCACHE_HAVE_CUDA)
  if (tensor.is_cuda()) {
    host_ = at::empty(tensor.sizes(), tensor.options().device(at::kCPU).pinned_memory(true));
    host_.copy_(tensor, /*non_blocking=*/true);
    pending_ = std::make_unique<Pending>();
    pending_->done.record(c10::cuda::getCurrentCUDAStream(tensor.device().index()));
    return;
  }
#endif
  host_ = tensor.to(at::kCPU);
}

at::Tensor HostCopy::wait() {
#if defined(PCACHE_HAVE_CUDA)
  if (pending_) {
    pending_->done.synchronize();
    pending_.reset();
  }
#endif
  return host_;
}

namespace {

template <typename T>
at::Tensor to_device(const std::vector<T>& values, at::Device device) {
  at::Tensor host = at::tensor(values, at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value));
  if (!device.is_cuda()) return host.to(device);
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

}  // namespace

at::Tensor copy_to_device(const std::vector<int64_t>& values, at::Device device) {
  return to_device(values, device);
}

at::Tensor copy_to_device(const std::vector<double>& values, at::Device device) {
  return to_device(values, device);
}

}  // namespace pcache
