// PrefixCache: reuse of the K/V of earlier plain prompts (and of what was
// generated after them) that share a prefix with a new one, over every block
// of the pool, as vLLM's automatic prefix caching does.
//
// A full block of a sequence whose entries sit at positions 0, 1, 2, ... is
// named by a hash chain: the hash of its 16 tokens seeded with the hash of
// the block before it (the first seeded with the cache's `seed`, which names
// the model and, for the server, the tenant). remember() records the names
// of a finished sequence's full blocks in the pool; reuse() walks a new
// prompt's blocks while the pool still holds them. Released blocks stay
// findable until the pool needs their space (BlockPool's cached list), so no
// count of prompts is kept and no copy is made.
//
// Causal attention makes this exact: the K/V of a prefix do not depend on
// what follows it. Thread-safe (the pool is).
#pragma once

#include <cstdint>
#include <vector>

#include "model/block_pool.h"
#include "model/paged_sequence.h"

namespace pcache {

class PrefixCache {
 public:
  PrefixCache(BlockPool& pool, uint64_t seed) : pool_(pool), seed_(seed) {}

  // Appends to `into` (empty, of this pool) the cached blocks that begin
  // `tokens`, whole blocks only and at most `max_entries` entries (callers
  // keep at least the last prompt token to compute, for its logits); returns
  // the entries reused. `salt` isolates callers from each other (0: shared).
  int64_t reuse(const std::vector<int>& tokens, int64_t max_entries, PagedSequence& into,
                uint64_t salt = 0) const;

  // Makes the full blocks of `sequence` findable, from its first entry while
  // its blocks are full and its positions are 0, 1, 2, ... Blocks that
  // already have a name (a module's: module_blocks.h) keep it, which ends
  // the chain there for reuse().
  void remember(const PagedSequence& sequence, uint64_t salt = 0) const;

 private:
  uint64_t block_hash(uint64_t previous, const int* tokens) const;

  BlockPool& pool_;
  const uint64_t seed_;
};

}  // namespace pcache
