// Module K/V in the block pool: zero-copy assembly of PML prompts.
//
// A module's entries fill blocks of their own, from row 0 of its first block
// (so its last block may be partial), named by the hash of its ModuleKey and
// the block's index. A prompt that imports the module appends those blocks
// to its sequence as they are (PagedSequence::append_shared), however many
// prompts use them at once; the first to need them writes them from the
// store's copy (device, host or disk tier, or a fresh encoding). Released,
// they stay findable in the pool's cached list until their space is needed.
//
// Entry order in a sequence does not matter to attention over cached
// entries (each carries its position, RoPE already applied), so modules are
// appended in any order and a union's gap or a parameter's unused slot
// simply has no entries.
//
// Thread-safe (the pool is). Two threads writing the same module at once
// both succeed; the pool keeps one name.
#pragma once

#include <cstdint>
#include <vector>

#include "cache/module_store.h"
#include "model/block_pool.h"
#include "model/paged_sequence.h"
#include "pcache/status.h"

namespace pcache {

uint64_t module_blocks_hash(const ModuleKey& key);

// Appends the module's blocks when the pool holds every one of them (its
// entries are `tokens` at `positions`); false, with nothing appended, else.
bool append_pooled_module(BlockPool& pool, uint64_t module_hash, const std::vector<int>& tokens,
                          const std::vector<int64_t>& positions, PagedSequence& into);

// Writes `kv` into fresh blocks and appends them; names them after
// `module_hash` unless `keep` is false (a read-only request: they are freed
// with the last sequence that holds them). ResourceExhausted, with nothing
// appended, when the pool has not the blocks.
Status append_module(BlockPool& pool, uint64_t module_hash, const ModuleKV& kv, bool keep,
                     PagedSequence& into);

}  // namespace pcache
