// HostCopy: a device tensor's copy to the host, started now and waited for
// later, so that the host can queue more work on the device behind it first
// (the scheduler reads a decode step's tokens while the next step runs).
//
// On CUDA the copy goes to pinned memory on the current stream, and wait()
// waits for it alone (an event recorded after it), not for the work queued
// since. Elsewhere the copy is made at once. Movable; not thread-safe.
#pragma once

#include <ATen/ATen.h>

#include <memory>

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

}  // namespace pcache
