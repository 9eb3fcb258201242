// BlockPool: the KV memory of every sequence the engine runs, in blocks of
// kBlockSize entries, reference-counted and shared between sequences.
//
// K and V of all layers live in two buffers on the model's device,
// [L, num_blocks, kBlockSize, Hkv, D] each, so that an entry's slot
// (block * kBlockSize + row) indexes the same [Hkv, D] row in every layer
// (keys(l) views a layer as [num_blocks * kBlockSize, Hkv, D]). This is the
// layout paged-attention kernels read (vLLM's and FlashInfer's "NHD").
//
// A block is in use (ref count > 0), cached (ref count 0, contents kept and
// findable by the content hash given with set_hash(), in a least-recently-
// released list), or free. allocate() takes free blocks first, then the least
// recently released cached ones, as vLLM's block pool does: released prefixes
// stay reusable until their space is needed.
//
// Why 16 entries a block: a module's partial last block and a sequence's
// open block waste fewer than 16 entries each; prefixes are shared at a
// 16-token grain; and 16 rows is one MMA tile of the GPU kernels (Hopper's
// m16 shapes) and 16 x D x 2 bytes a coalesced read per head.
//
// Thread-safe: every method may be called from several threads at once.
// Writing block contents is the caller's business (through keys()/values());
// a block's owner writes it before it shares or hashes it.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "model/model_config.h"
#include "pcache/status.h"

namespace pcache {

struct BlockPoolStats {
  int64_t num_blocks = 0;
  int64_t in_use = 0;     // ref count > 0
  int64_t peak_in_use = 0;  // most in use at once since creation or reset_peak()
  int64_t cached = 0;     // ref count 0, contents findable by hash
  int64_t hits = 0;       // find() that returned a block
  int64_t evictions = 0;  // cached blocks reused for new contents
  int64_t bytes = 0;      // device bytes of both buffers
};

class BlockPool {
 public:
  static constexpr int64_t kBlockSize = 16;

  // Device bytes one block takes (K and V of every layer).
  static int64_t block_bytes(const ModelConfig& config, at::ScalarType dtype);

  // Allocates both buffers at once. Errors: InvalidArgument (num_blocks < 1),
  // ResourceExhausted (the device has not the memory).
  static StatusOr<std::unique_ptr<BlockPool>> create(const ModelConfig& config, at::ScalarType dtype,
                                                     at::Device device, int64_t num_blocks);

  int64_t num_blocks() const { return num_blocks_; }
  int64_t num_layers() const { return static_cast<int64_t>(k_.size()); }
  // Blocks allocate() can hand out now: free and cached ones.
  int64_t available() const;

  // `n` blocks with ref count 1 and no hash. ResourceExhausted, with nothing
  // allocated, when fewer than n are available.
  StatusOr<std::vector<int32_t>> allocate(int64_t n);
  // One more reference to a block in use.
  void retain(int32_t block);
  // One reference less; at zero the block becomes cached (when it has a hash)
  // or free.
  void release(int32_t block);
  void release(const std::vector<int32_t>& blocks);
  int32_t ref_count(int32_t block) const;

  // Records that `block` (in use, its contents written) holds the content
  // `hash` names, so that find(hash) returns it, now or once cached. A block
  // keeps its first name (a module's block stays findable as the module's
  // when a sequence that holds it is remembered as a prefix), and a hash
  // already held by another block keeps that one.
  void set_hash(int32_t block, uint64_t hash);
  // The block holding `hash`, retained (taken back from the cached list when
  // it was there), or nullopt.
  std::optional<int32_t> find(uint64_t hash);

  // A layer's buffers as [num_blocks * kBlockSize, Hkv, D]: row `slot` is the
  // entry at slot = block * kBlockSize + row.
  at::Tensor keys(int64_t layer) const { return k_[layer]; }
  at::Tensor values(int64_t layer) const { return v_[layer]; }
  // Copies the first `rows` entries of block `from` to block `to` in every layer.
  void copy_rows(int32_t from, int32_t to, int64_t rows);

  BlockPoolStats stats() const;
  void reset_peak();

 private:
  BlockPool(int64_t num_blocks, at::Tensor k_all, at::Tensor v_all);

  struct Block {
    int32_t refs = 0;
    std::optional<uint64_t> hash;
    std::list<int32_t>::iterator cached_at;  // in cached_ when refs == 0 and hash set
  };
  void forget_hash_locked(int32_t block);
  // One reference less (a cached block goes to the cached list); true when
  // the block is now free, for the caller to put on the free list.
  bool release_locked(int32_t block);
  void note_in_use_locked();

  const int64_t num_blocks_;
  at::Tensor k_all_, v_all_;       // [L, num_blocks, kBlockSize, Hkv, D]
  std::vector<at::Tensor> k_, v_;  // per layer [num_blocks * kBlockSize, Hkv, D]

  mutable std::mutex mu_;
  std::vector<Block> blocks_;
  std::vector<int32_t> free_;                         // no contents worth keeping
  std::list<int32_t> cached_;                         // least recently released first
  std::unordered_map<uint64_t, int32_t> by_hash_;     // content hash -> block
  int64_t hits_ = 0, evictions_ = 0, peak_in_use_ = 0;
};

}  // namespace pcache
