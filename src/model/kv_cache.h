// KVCache: per-layer keys and values of the tokens seen so far, with the
// position id of each entry, in buffers written in place.
//
// Buffers have a capacity that grows geometrically, so that appending a token
// copies nothing but that token's K/V. All layers share one buffer for K and
// one for V ([L, B, Hkv, capacity, D]), so that whole entries of every layer
// are written with one copy (append_packed). Not thread-safe.
#pragma once

#include <ATen/ATen.h>

#include <utility>
#include <vector>

namespace pcache {

class KVCache {
 public:
  // An empty cache for `num_layers` layers of [batch, kv_heads, *, head_dim].
  KVCache(int64_t num_layers, int64_t batch, int64_t kv_heads, int64_t head_dim,
          at::ScalarType dtype, at::Device device);

  int64_t num_layers() const { return static_cast<int64_t>(k_.size()); }
  int64_t batch() const { return batch_; }
  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }

  // positions: [B, length] int64, the position id of every cached entry.
  at::Tensor positions() const { return pos_.narrow(1, 0, length_); }
  // k, v of a layer: [B, Hkv, length, D] views.
  at::Tensor keys(int64_t layer) const { return k_[layer].narrow(2, 0, length_); }
  at::Tensor values(int64_t layer) const { return v_[layer].narrow(2, 0, length_); }

  // Makes room for `extra` entries after length().
  void reserve(int64_t extra);

  // Writes k, v ([B, Hkv, T, D]) of `layer` at [length, length + T) and returns
  // views of all entries including them ([B, Hkv, length + T, D]). length()
  // stays until commit(), so a failed forward leaves the cache as it was.
  std::pair<at::Tensor, at::Tensor> update(int64_t layer, const at::Tensor& k, const at::Tensor& v);

  // Records the positions ([B, T]) of the entries written by update() and
  // makes them part of the cache.
  void commit(const at::Tensor& positions);

  // The same for a pass replayed as a CUDA graph, where offsets must live on
  // the device: writes k, v at `index` ([T] int64 on the device, all below
  // capacity()).
  void update_at(int64_t layer, const at::Tensor& index, const at::Tensor& k, const at::Tensor& v);
  // Records positions ([B, T]) at `index`; advance() then makes them part of
  // the cache (on the host, outside the graph).
  void commit_at(const at::Tensor& index, const at::Tensor& positions);
  void advance(int64_t t);

  // Appends whole entries at once: k, v per layer [B, Hkv, T, D], positions [B, T].
  void append(const std::vector<at::Tensor>& k, const std::vector<at::Tensor>& v,
              const at::Tensor& positions);
  // The same with every layer in one tensor: k, v [L, B, Hkv, T, D] (one copy each).
  void append_packed(const at::Tensor& k, const at::Tensor& v, const at::Tensor& positions);

  // Drops entries from `length` on (length <= length()).
  void truncate(int64_t length);

  // The first n entries of a layer's buffers, written or not: [B, Hkv, n, D].
  std::pair<at::Tensor, at::Tensor> first_entries(int64_t layer, int64_t n) const {
    return {k_[layer].narrow(2, 0, n), v_[layer].narrow(2, 0, n)};
  }

  // Identifies the buffers (they change only when the capacity grows).
  const void* buffer_id() const { return k_.empty() ? nullptr : k_[0].data_ptr(); }

  // Device bytes of the entries in use (K and V of all layers).
  int64_t bytes() const;

 private:
  void grow_to(int64_t capacity);

  int64_t batch_, kv_heads_, head_dim_;
  at::ScalarType dtype_;
  at::Device device_;
  at::Tensor k_all_, v_all_;       // [L, B, Hkv, capacity, D]
  std::vector<at::Tensor> k_, v_;  // views of each layer: [B, Hkv, capacity, D]
  at::Tensor pos_;                 // [B, capacity] int64
  int64_t length_ = 0;
  int64_t capacity_ = 0;
};

}  // namespace pcache
