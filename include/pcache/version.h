// What this build of pcache is and what it can run on, for `pcache --version`
// and benchmark records. Torch-free.
#pragma once

#include <string>

namespace pcache {

inline constexpr const char* kVersion = "0.1.0";

// "libtorch 2.11.0, CUDA 13.0" (CUDA only in builds that have it).
std::string build_info();
// "cpu" then each visible GPU: "cpu, cuda:0 (NVIDIA H200)"; never throws.
std::string devices_info();

}  // namespace pcache
