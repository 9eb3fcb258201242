// What the GPU benchmarks of this folder (layer_ops_bench,
// paged_attention_bench) share: their argument lists, CUDA-event timers
// (eager, or replays of a captured graph) and the copy bandwidth their
// figures are set against. Built only with the kernels; not a library.
#pragma once

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace pcache::gpu_bench {

// "1,4,16" -> {1, 4, 16}.
inline std::vector<int64_t> parse_list(const char* arg) {
  std::vector<int64_t> v;
  std::stringstream in(arg);
  for (std::string item; std::getline(in, item, ',');) v.push_back(std::stoll(item));
  return v;
}

// Median milliseconds of `runs` calls of `run`, each timed with CUDA events.
inline double median_event_ms(int64_t runs, const std::function<void()>& run) {
  std::vector<double> times;
  for (int64_t i = 0; i < runs; ++i) {
    at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
    start.record();
    run();
    stop.record();
    stop.synchronize();
    times.push_back(start.elapsed_time(stop));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Median milliseconds of `steps` eager runs of `step` (after 3 untimed ones).
inline double median_ms(int64_t steps, const std::function<void()>& step) {
  for (int i = 0; i < 3; ++i) step();
  return median_event_ms(steps, step);
}

// Median milliseconds of a graph replay of `body` (captured once, after an
// eager warm-up run; 2 untimed replays first).
inline double graph_ms(int64_t replays, const std::function<void()>& body) {
  c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false);
  c10::cuda::CUDAStreamGuard guard(side);
  body();
  at::cuda::CUDAGraph graph;
  graph.capture_begin();
  body();
  graph.capture_end();
  graph.replay();
  graph.replay();
  return median_event_ms(replays, [&] { graph.replay(); });
}

// Device-to-device copy bandwidth, bytes read + written per second, of a 4 GiB
// copy timed by `time_ms` (median_ms or graph_ms: a copy in a graph measures
// lower, so each bench sets its figures against the way it times them).
inline double copy_bandwidth(const std::function<double(int64_t, const std::function<void()>&)>& time_ms) {
  at::Tensor a = at::randn({int64_t{1} << 30}, at::TensorOptions().device(at::kCUDA));
  at::Tensor b = at::empty_like(a);
  const double ms = time_ms(10, [&] { b.copy_(a); });
  return 2.0 * a.nbytes() / (ms * 1e-3);
}

}  // namespace pcache::gpu_bench
