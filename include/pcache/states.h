// Saved states as the engine's callers see them: ids, what a state holds,
// and the results of caching a prompt and of a chat turn (docs/architecture.md,
// "Saved states"). Plain values; no libtorch types.
#pragma once

#include <cstdint>
#include <vector>

#include "pcache/generation.h"

namespace pcache {

// A saved state: the K/V of a prompt (and of a conversation so far), its last
// logits and sampler state. Ids are never reused within an engine.
using StateId = uint64_t;

struct StateInfo {
  StateId id = 0;
  StateId parent = 0;        // the state it extends (0: none); shares its K/V
  int tokens = 0;            // all tokens, parents' included
  int64_t own_bytes = 0;     // K/V bytes this state added
  int64_t total_bytes = 0;   // K/V bytes of its whole history (shared with parents and forks)
  int64_t logits_bytes = 0;
};

struct CachedPrompt {
  StateId state = 0;
  int tokens = 0;
  std::vector<StepTiming> steps;  // reset, eval, save_state
  // A PML prompt's modules taken from the cache and encoded for it (as Generation's).
  std::vector<std::string> reused_modules, encoded_modules;
};

struct ChatResult {
  Generation generation;
  StateId state = 0;  // the conversation after this answer
};

}  // namespace pcache
