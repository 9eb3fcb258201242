// DeviceTimer: how long the work between start() and stop_ms() took on an
// engine's device: CUDA events on a GPU (recorded on the current stream), the
// host's steady clock on the CPU. stop_ms() waits for the device. One per
// thread; not thread-safe.
#pragma once

#include <memory>

#include "pcache/engine.h"

namespace pcache {

class DeviceTimer {
 public:
  explicit DeviceTimer(const Engine& engine);
  ~DeviceTimer();
  DeviceTimer(const DeviceTimer&) = delete;
  DeviceTimer& operator=(const DeviceTimer&) = delete;

  void start();
  // Milliseconds since start(), once the device has finished what was queued.
  double stop_ms();
  // "cuda events" or "host clock".
  const char* method() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pcache
