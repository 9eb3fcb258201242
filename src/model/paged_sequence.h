// PagedSequence: the KV entries of one sequence in a BlockPool — a block
// table, the rows each block holds for it, and every entry's token and
// position (on the host).
//
// Blocks are shared: share() makes a fork that refers to the same blocks,
// and append_shared() adds blocks that others own (a module's, a cached
// prefix's) without copying them. Only the last block takes new entries, and
// only while this sequence holds it alone: a shared partial last block is
// copied first (copy on write) when every block before it is full, and
// otherwise left as it is, the new entries starting a block of their own; no
// sequence ever writes a row another one reads. A block in the middle of the table may be partial (a
// module's last block): the table is ragged, and slots() lists every entry's
// row.
//
// Move-only; releases its blocks when destroyed. Not thread-safe (one
// sequence is used by one thread at a time); the pool is.
#pragma once

#include <cstdint>
#include <vector>

#include "model/block_pool.h"
#include "pcache/status.h"

namespace pcache {

class PagedSequence {
 public:
  explicit PagedSequence(BlockPool& pool) : pool_(&pool) {}
  ~PagedSequence();
  PagedSequence(PagedSequence&& other) noexcept;
  PagedSequence& operator=(PagedSequence&& other) noexcept;
  PagedSequence(const PagedSequence&) = delete;
  PagedSequence& operator=(const PagedSequence&) = delete;

  // A sequence with the same entries, sharing every block (from then on
  // neither writes the shared last block: the next append copies it).
  PagedSequence share();

  BlockPool& pool() const { return *pool_; }
  int64_t length() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<int>& tokens() const { return tokens_; }
  const std::vector<int64_t>& positions() const { return positions_; }
  const std::vector<int32_t>& blocks() const { return blocks_; }
  const std::vector<int32_t>& rows() const { return rows_; }  // rows used in each block
  // The pool slot (block * kBlockSize + row) of every entry, in order.
  std::vector<int64_t> slots() const;
  // The slots of entries [from, length()).
  std::vector<int64_t> slots_from(int64_t from) const;

  // Appends `block` (in use by its owner, its first `rows` rows holding the
  // K/V of `tokens` at `positions`) as it is: retained, never written here.
  void append_shared(int32_t block, const std::vector<int>& tokens,
                     const std::vector<int64_t>& positions);

  // Appends entries for `tokens` at `positions` whose K/V the caller then
  // writes at slots_from(length() before the call). A shared partial last
  // block is copied first when the table is aligned, else left behind. ResourceExhausted, with the sequence unchanged, when
  // the pool has not the blocks.
  Status append(const std::vector<int>& tokens, const std::vector<int64_t>& positions);

  // Sets the token of entry `index` (< length()): an entry appended before
  // its id was on the host, whose K/V a step computed from the id on the
  // device (the scheduler's overlapped decode steps).
  void set_token(int64_t index, int token);

  // Drops the entries from `length` on (length <= length()), releasing the
  // blocks no longer used.
  void truncate(int64_t length);

  // Releases every block: an empty sequence.
  void clear();

 private:
  BlockPool* pool_;
  std::vector<int32_t> blocks_, rows_;
  bool tail_open_ = false;  // the last block was allocated here, for this sequence alone
  std::vector<int> tokens_;
  std::vector<int64_t> positions_;
};

}  // namespace pcache
