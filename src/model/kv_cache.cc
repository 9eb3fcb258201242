#include "model/kv_cache.h"

#include <algorithm>
#include <cassert>

namespace pcache {

KVCache::KVCache(int64_t num_layers, int64_t batch, int64_t kv_heads, int64_t head_dim,
                 at::ScalarType dtype, at::Device device)
    : batch_(batch),
      kv_heads_(kv_heads),
      head_dim_(head_dim),
      dtype_(dtype),
      device_(device),
      k_(num_layers),
      v_(num_layers) {
  grow_to(0);
}

void KVCache::grow_to(int64_t capacity) {
  auto opts = at::TensorOptions().dtype(dtype_).device(device_);
  const int64_t layers = static_cast<int64_t>(k_.size());
  at::Tensor k = at::empty({layers, batch_, kv_heads_, capacity, head_dim_}, opts);
  at::Tensor v = at::empty({layers, batch_, kv_heads_, capacity, head_dim_}, opts);
  if (length_ > 0) {
    k.narrow(3, 0, length_).copy_(k_all_.narrow(3, 0, length_));
    v.narrow(3, 0, length_).copy_(v_all_.narrow(3, 0, length_));
  }
  k_all_ = k;
  v_all_ = v;
  for (int64_t l = 0; l < layers; ++l) {
    k_[l] = k_all_[l];
    v_[l] = v_all_[l];
  }
  at::Tensor pos = at::empty({batch_, capacity}, opts.dtype(at::kLong));
  if (length_ > 0) pos.narrow(1, 0, length_).copy_(pos_.narrow(1, 0, length_));
  pos_ = pos;
  capacity_ = capacity;
}

void KVCache::reserve(int64_t extra) {
  int64_t need = length_ + extra;
  if (need <= capacity_) return;
  grow_to(std::max<int64_t>({need, 2 * capacity_, 64}));
}

std::pair<at::Tensor, at::Tensor> KVCache::update(int64_t layer, const at::Tensor& k,
                                                  const at::Tensor& v) {
  const int64_t t = k.size(2);
  assert(length_ + t <= capacity_ && "reserve() before update()");
  k_[layer].narrow(2, length_, t).copy_(k);
  v_[layer].narrow(2, length_, t).copy_(v);
  return {k_[layer].narrow(2, 0, length_ + t), v_[layer].narrow(2, 0, length_ + t)};
}

void KVCache::commit(const at::Tensor& positions) {
  const int64_t t = positions.size(1);
  pos_.narrow(1, length_, t).copy_(positions);
  length_ += t;
}

void KVCache::update_at(int64_t layer, const at::Tensor& index, const at::Tensor& k,
                        const at::Tensor& v) {
  k_[layer].index_copy_(2, index, k);
  v_[layer].index_copy_(2, index, v);
}

void KVCache::commit_at(const at::Tensor& index, const at::Tensor& positions) {
  pos_.index_copy_(1, index, positions);
}

void KVCache::advance(int64_t t) {
  assert(length_ + t <= capacity_);
  length_ += t;
}

void KVCache::append(const std::vector<at::Tensor>& k, const std::vector<at::Tensor>& v,
                     const at::Tensor& positions) {
  reserve(positions.size(1));
  for (size_t l = 0; l < k_.size(); ++l) update(static_cast<int64_t>(l), k[l], v[l]);
  commit(positions);
}

void KVCache::append_packed(const at::Tensor& k, const at::Tensor& v, const at::Tensor& positions) {
  const int64_t t = positions.size(1);
  reserve(t);
  k_all_.narrow(3, length_, t).copy_(k);
  v_all_.narrow(3, length_, t).copy_(v);
  commit(positions);
}

void KVCache::truncate(int64_t length) {
  assert(length >= 0 && length <= length_);
  length_ = length;
}

int64_t KVCache::bytes() const {
  return 2 * num_layers() * batch_ * kv_heads_ * length_ * head_dim_ *
         static_cast<int64_t>(c10::elementSize(dtype_));
}

}  // namespace pcache
