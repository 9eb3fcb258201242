#include "runtime/prefix_cache.h"

#include "xxhash.h"

namespace pcache {
namespace {
constexpr int64_t kB = BlockPool::kBlockSize;
}

uint64_t PrefixCache::block_hash(uint64_t previous, const int* tokens) const {
  return XXH64(tokens, kB * sizeof(int), previous);
}

int64_t PrefixCache::reuse(const std::vector<int>& tokens, int64_t max_entries, PagedSequence& into,
                           uint64_t salt) const {
  const int64_t blocks = std::min<int64_t>(static_cast<int64_t>(tokens.size()), max_entries) / kB;
  uint64_t hash = seed_ ^ salt;
  int64_t reused = 0;
  std::vector<int64_t> positions(kB);
  for (int64_t b = 0; b < blocks; ++b) {
    hash = block_hash(hash, tokens.data() + b * kB);
    const std::optional<int32_t> block = pool_.find(hash);
    if (!block) break;
    for (int64_t r = 0; r < kB; ++r) positions[r] = b * kB + r;
    into.append_shared(*block, std::vector<int>(tokens.begin() + b * kB, tokens.begin() + (b + 1) * kB),
                       positions);
    pool_.release(*block);  // append_shared holds its own reference
    reused += kB;
  }
  return reused;
}

void PrefixCache::remember(const PagedSequence& sequence, uint64_t salt) const {
  const std::vector<int>& tokens = sequence.tokens();
  const std::vector<int64_t>& positions = sequence.positions();
  uint64_t hash = seed_ ^ salt;
  for (size_t b = 0; b < sequence.blocks().size(); ++b) {
    if (sequence.rows()[b] != kB) return;
    const int64_t first = static_cast<int64_t>(b) * kB;
    for (int64_t r = 0; r < kB; ++r) {
      if (positions[first + r] != first + r) return;
    }
    hash = block_hash(hash, tokens.data() + first);
    pool_.set_hash(sequence.blocks()[b], hash);
  }
}

}  // namespace pcache
