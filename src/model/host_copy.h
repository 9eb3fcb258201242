// HostCopy: a device tensor's copy to the host, started now and waited for
// later, so that the host can queue more work on the device behind it first
// (the scheduler reads a decode step's tokens while the next step runs);
// and copy_to_device, the other way for small host vectors.
//
// On CUDA the copy goes to pinned memory on the current stream, and wait()
// waits for it alone (an event recorded after it), not for the work queued
// since. Elsewhere the copy is made at once. Movable; not thread-safe.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <vector>

namespace pcache {

class HostCopy {
 public:
  HostCopy();  // nothing to wait for: wait() returns an undefined tensor
  // Starts copying `tensor` behind the work queued on its device. Throws c10::Error.
  explicit HostCopy(const at::Tensor& tensor);
  ~HostCopy();
  HostCopy(HostCopy&&) noexcept;
  HostCopy& operator=(HostCopy&&) noexcept;

  // The copy on the host, once it is there. Throws c10::Error (a device error).
  at::Tensor wait();

 private:
  struct Pending;
  at::Tensor host_;
  std::unique_ptr<Pending> pending_;  // CUDA: the event after the copy
};

// `values` on `device` ([n]), copied behind the work queued there: from
// pinned memory on CUDA, so that the host does not wait for the device.
// Throws c10::Error.
at::Tensor copy_to_device(const std::vector<int64_t>& values, at::Device device);
at::Tensor copy_to_device(const std::vector<double>& values, at::Device device);

}  // namespace pcache
