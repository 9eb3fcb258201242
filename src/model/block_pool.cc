#include "model/block_pool.h"

#include <algorithm>
#include <cassert>
#include <string>

namespace pcache {

int64_t BlockPool::block_bytes(const ModelConfig& c, at::ScalarType dtype) {
  return 2 * c.num_layers * kBlockSize * c.num_kv_heads * c.head_dim *
         static_cast<int64_t>(at::elementSize(dtype));
}

StatusOr<std::unique_ptr<BlockPool>> BlockPool::create(const ModelConfig& c, at::ScalarType dtype,
                                                       at::Device device, int64_t num_blocks) {
  if (num_blocks < 1 || num_blocks > INT32_MAX / kBlockSize) {
    return Status::invalid_argument("KV block pool: " + std::to_string(num_blocks) +
                                    " blocks, expected 1 to " + std::to_string(INT32_MAX / kBlockSize));
  }
  try {
    auto opts = at::TensorOptions().dtype(dtype).device(device);
    const std::vector<int64_t> shape = {c.num_layers, num_blocks, kBlockSize, c.num_kv_heads, c.head_dim};
    at::Tensor k = at::empty(shape, opts), v = at::empty(shape, opts);
    return std::unique_ptr<BlockPool>(new BlockPool(num_blocks, std::move(k), std::move(v)));
  } catch (const c10::Error& e) {
    return Status::resource_exhausted("KV block pool of " + std::to_string(num_blocks) + " blocks (" +
                                      std::to_string(num_blocks * block_bytes(c, dtype)) +
                                      " bytes): " + e.what_without_backtrace());
  }
}

BlockPool::BlockPool(int64_t num_blocks, at::Tensor k_all, at::Tensor v_all)
    : num_blocks_(num_blocks), k_all_(std::move(k_all)), v_all_(std::move(v_all)),
      blocks_(num_blocks) {
  const int64_t layers = k_all_.size(0), heads = k_all_.size(3), dim = k_all_.size(4);
  for (int64_t l = 0; l < layers; ++l) {
    k_.push_back(k_all_[l].view({num_blocks * kBlockSize, heads, dim}));
    v_.push_back(v_all_[l].view({num_blocks * kBlockSize, heads, dim}));
  }
  // Low block numbers first.
  for (int64_t b = num_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

int64_t BlockPool::available() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(free_.size() + cached_.size());
}

void BlockPool::forget_hash_locked(int32_t block) {
  Block& b = blocks_[block];
  if (!b.hash) return;
  auto it = by_hash_.find(*b.hash);
  if (it != by_hash_.end() && it->second == block) by_hash_.erase(it);
  b.hash.reset();
}

void BlockPool::note_in_use_locked() {
  peak_in_use_ = std::max(peak_in_use_, num_blocks_ - static_cast<int64_t>(cached_.size() + free_.size()));
}

void BlockPool::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  peak_in_use_ = num_blocks_ - static_cast<int64_t>(cached_.size() + free_.size());
}

StatusOr<std::vector<int32_t>> BlockPool::allocate(int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  if (n < 0 || static_cast<size_t>(n) > free_.size() + cached_.size()) {
    return Status::resource_exhausted(
        "KV block pool: " + std::to_string(n) + " blocks asked for, " +
        std::to_string(free_.size() + cached_.size()) + " of " + std::to_string(num_blocks_) +
        " available");
  }
  std::vector<int32_t> out;
  out.reserve(n);
  while (static_cast<int64_t>(out.size()) < n) {
    int32_t b;
    if (!free_.empty()) {
      b = free_.back();
      free_.pop_back();
    } else {
      b = cached_.front();
      cached_.pop_front();
      forget_hash_locked(b);
      ++evictions_;
    }
    blocks_[b].refs = 1;
    out.push_back(b);
  }
  note_in_use_locked();
  return out;
}

void BlockPool::retain(int32_t block) {
  std::lock_guard<std::mutex> lock(mu_);
  assert(blocks_[block].refs > 0 && "retain of a block not in use");
  ++blocks_[block].refs;
}

bool BlockPool::release_locked(int32_t block) {
  Block& b = blocks_[block];
  assert(b.refs > 0 && "release of a block not in use");
  if (--b.refs > 0) return false;
  if (!b.hash) return true;
  b.cached_at = cached_.insert(cached_.end(), block);
  return false;
}

void BlockPool::release(int32_t block) {
  std::lock_guard<std::mutex> lock(mu_);
  if (release_locked(block)) free_.push_back(block);
}

void BlockPool::release(const std::vector<int32_t>& blocks) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int32_t> freed;
  for (int32_t block : blocks) {
    if (release_locked(block)) freed.push_back(block);
  }
  // Pushed last to first, so that allocate() hands them out again in their
  // order: a sequence's or a module's blocks stay consecutive in the pool,
  // which lets attention read long runs of them in place (forward_paged).
  free_.insert(free_.end(), freed.rbegin(), freed.rend());
}

int32_t BlockPool::ref_count(int32_t block) const {
  std::lock_guard<std::mutex> lock(mu_);
  return blocks_[block].refs;
}

void BlockPool::set_hash(int32_t block, uint64_t hash) {
  std::lock_guard<std::mutex> lock(mu_);
  Block& b = blocks_[block];
  assert(b.refs > 0 && "set_hash of a block not in use");
  if (b.hash || by_hash_.count(hash)) return;
  b.hash = hash;
  by_hash_[hash] = block;
}

std::optional<int32_t> BlockPool::find(uint64_t hash) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  Block& b = blocks_[it->second];
  if (b.refs == 0) cached_.erase(b.cached_at);
  ++b.refs;
  ++hits_;
  note_in_use_locked();
  return it->second;
}

void BlockPool::copy_rows(int32_t from, int32_t to, int64_t rows) {
  // One strided copy over all layers ([L, rows, Hkv, D]) for keys and one for
  // values: a copy per layer (64 launches at 32 layers) held a forked request
  // 0.5-1 ms before its first step on an H100 (docs/benchmarks.md, the floor).
  k_all_.select(1, to).narrow(1, 0, rows).copy_(k_all_.select(1, from).narrow(1, 0, rows));
  v_all_.select(1, to).narrow(1, 0, rows).copy_(v_all_.select(1, from).narrow(1, 0, rows));
}

BlockPoolStats BlockPool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  BlockPoolStats s;
  s.num_blocks = num_blocks_;
  s.cached = static_cast<int64_t>(cached_.size());
  s.in_use = num_blocks_ - s.cached - static_cast<int64_t>(free_.size());
  s.peak_in_use = peak_in_use_;
  s.hits = hits_;
  s.evictions = evictions_;
  s.bytes = static_cast<int64_t>(k_all_.nbytes() + v_all_.nbytes());
  return s;
}

}  // namespace pcache
