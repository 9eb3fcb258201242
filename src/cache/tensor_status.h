// Tensor operations throw when memory runs out (or on other ATen errors);
// pcache's APIs report a Status instead.
#pragma once

#include <ATen/ATen.h>

#include <new>
#include <string>

#include "pcache/status.h"

namespace pcache {

// Runs f(), turning ATen's, the allocator's and any other std::exception
// into a Status (ResourceExhausted for out-of-memory, Internal otherwise)
// prefixed with `what`. Public entry points run their bodies through it.
template <typename F>
auto without_exceptions(const std::string& what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const c10::OutOfMemoryError& e) {
    return Status::resource_exhausted(what + ": " + e.what_without_backtrace());
  } catch (const c10::Error& e) {
    return Status::internal(what + ": " + e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted(what + ": out of memory");
  } catch (const std::exception& e) {
    return Status::internal(what + ": " + e.what());
  }
}

}  // namespace pcache
