// ServingStats: the serving core's state — the KV block pool that holds
// every request's, module's, prefix's and state's K/V, and the scheduler
// that batches requests. A plain value, copied out under their locks.
#pragma once

#include <cstdint>

namespace pcache {

struct ServingStats {
  // KV block pool (docs/architecture.md, "Serving core").
  int64_t block_tokens = 0;        // entries per block
  int64_t block_bytes = 0;         // K and V of every layer, per block
  int64_t blocks = 0;              // in the pool
  int64_t blocks_in_use = 0;       // held by requests, states, pinned or running modules
  int64_t blocks_cached = 0;       // released, contents kept for reuse (prefixes, modules)
  int64_t peak_blocks_in_use = 0;  // since the engine opened or reset_peak_serving()
  int64_t block_hits = 0;          // blocks reused by name (prefix or module)
  int64_t block_evictions = 0;     // cached blocks given new contents
  // Scheduler.
  int64_t steps = 0;               // forwards run
  int64_t running = 0, waiting = 0;
  int64_t max_batch = 0;           // most sequences in one step
  int64_t preemptions = 0;         // requests recomputed for want of blocks
  // Milliseconds in steps, and in their forwards (until the logits were on
  // the host): the rest of step_ms is the scheduler's host work. With
  // overlapped steps, forward_ms is the time spent queuing the next step
  // and waiting for this one's tokens, and a step's host work runs while
  // the next one computes.
  double step_ms = 0, forward_ms = 0;
  int64_t graph_captures = 0;      // decode steps captured as CUDA graphs
  int64_t overlapped_steps = 0;    // decode steps queued before the previous step's tokens were read
};

}  // namespace pcache
