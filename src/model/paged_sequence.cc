#include "model/paged_sequence.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace pcache {

namespace {
constexpr int64_t kB = BlockPool::kBlockSize;
}

PagedSequence::~PagedSequence() { clear(); }

PagedSequence::PagedSequence(PagedSequence&& other) noexcept
    : pool_(other.pool_),
      blocks_(std::move(other.blocks_)),
      rows_(std::move(other.rows_)),
      tail_open_(std::exchange(other.tail_open_, false)),
      tokens_(std::move(other.tokens_)),
      positions_(std::move(other.positions_)) {
  other.blocks_.clear();
  other.rows_.clear();
  other.tokens_.clear();
  other.positions_.clear();
}

PagedSequence& PagedSequence::operator=(PagedSequence&& other) noexcept {
  if (this != &other) {
    clear();
    pool_ = other.pool_;
    blocks_ = std::exchange(other.blocks_, {});
    rows_ = std::exchange(other.rows_, {});
    tail_open_ = std::exchange(other.tail_open_, false);
    tokens_ = std::exchange(other.tokens_, {});
    positions_ = std::exchange(other.positions_, {});
  }
  return *this;
}

PagedSequence PagedSequence::share() {
  PagedSequence copy(*pool_);
  for (int32_t b : blocks_) pool_->retain(b);
  copy.blocks_ = blocks_;
  copy.rows_ = rows_;
  copy.tokens_ = tokens_;
  copy.positions_ = positions_;
  tail_open_ = false;  // neither may write the shared tail from now on
  return copy;
}

std::vector<int64_t> PagedSequence::slots() const { return slots_from(0); }

std::vector<int64_t> PagedSequence::slots_from(int64_t from) const {
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(0, length() - from)));
  int64_t index = 0;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const int64_t base = int64_t{blocks_[i]} * kB;
    for (int64_t r = 0; r < rows_[i]; ++r, ++index) {
      if (index >= from) out.push_back(base + r);
    }
  }
  return out;
}

void PagedSequence::append_shared(int32_t block, const std::vector<int>& tokens,
                                  const std::vector<int64_t>& positions) {
  assert(tokens.size() == positions.size() && static_cast<int64_t>(tokens.size()) <= kB);
  pool_->retain(block);
  blocks_.push_back(block);
  rows_.push_back(static_cast<int32_t>(tokens.size()));
  tail_open_ = false;
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  positions_.insert(positions_.end(), positions.begin(), positions.end());
}

Status PagedSequence::append(const std::vector<int>& tokens, const std::vector<int64_t>& positions) {
  assert(tokens.size() == positions.size());
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return Status::ok_status();
  const int64_t tail_rows = blocks_.empty() ? kB : rows_.back();
  const bool partial_tail = tail_rows < kB;
  // A shared partial tail is copied only where that keeps the table aligned
  // (every block before it full: a fork of a prompt or a conversation, whose
  // blocks prefix reuse can then name); in a table that is ragged already (a
  // PML prompt's modules) the new entries start a block of their own, so
  // that a module's last block is never copied per request.
  const bool aligned = std::all_of(rows_.begin(), rows_.end() - (rows_.empty() ? 0 : 1),
                                   [](int32_t r) { return r == kB; });
  const bool copy_tail = partial_tail && !tail_open_ && aligned;
  // Rows the tail takes as it is, then whole new blocks (one more for a copied tail).
  const int64_t in_tail = partial_tail && tail_open_ ? std::min(n, kB - tail_rows) : 0;
  const int64_t carried = copy_tail ? tail_rows : 0;
  const int64_t fresh = (carried + n - in_tail + kB - 1) / kB;
  PCACHE_ASSIGN_OR_RETURN(std::vector<int32_t> got, pool_->allocate(fresh));
  size_t next = 0;
  if (copy_tail) {
    const int32_t old = blocks_.back();
    pool_->copy_rows(old, got[next], tail_rows);
    blocks_.back() = got[next++];
    pool_->release(old);
    tail_open_ = true;
  }
  int64_t left = n;
  if (!blocks_.empty() && tail_open_ && rows_.back() < kB) {
    const int64_t take = std::min(left, kB - rows_.back());
    rows_.back() += static_cast<int32_t>(take);
    left -= take;
  }
  while (left > 0) {
    const int64_t take = std::min(left, kB);
    blocks_.push_back(got[next++]);
    rows_.push_back(static_cast<int32_t>(take));
    left -= take;
  }
  assert(next == got.size());
  tail_open_ = true;
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
  positions_.insert(positions_.end(), positions.begin(), positions.end());
  return Status::ok_status();
}

void PagedSequence::set_token(int64_t index, int token) {
  assert(index >= 0 && index < length());
  tokens_[index] = token;
}

void PagedSequence::truncate(int64_t length) {
  assert(length >= 0 && length <= this->length());
  tokens_.resize(length);
  positions_.resize(length);
  int64_t kept = 0;
  size_t i = 0;
  for (; i < blocks_.size() && kept < length; ++i) {
    const int64_t take = std::min<int64_t>(rows_[i], length - kept);
    if (take < rows_[i]) rows_[i] = static_cast<int32_t>(take);
    kept += take;
  }
  if (i < blocks_.size()) tail_open_ = false;  // the new last block may be shared
  for (size_t j = i; j < blocks_.size(); ++j) pool_->release(blocks_[j]);
  blocks_.resize(i);
  rows_.resize(i);
}

void PagedSequence::clear() {
  if (pool_) pool_->release(blocks_);
  blocks_.clear();
  rows_.clear();
  tokens_.clear();
  positions_.clear();
  tail_open_ = false;
}

}  // namespace pcache
