#include "runtime/module_blocks.h"

#include <string>

#include "cache/tensor_status.h"
#include "xxhash.h"

namespace pcache {
namespace {

constexpr int64_t kB = BlockPool::kBlockSize;

uint64_t block_name(uint64_t module_hash, int64_t index) {
  return XXH64(&index, sizeof(index), module_hash);
}

// Appends block `index` of a module whose entries are `tokens` at `positions`.
void append_block(PagedSequence& into, int32_t block, int64_t index, const std::vector<int>& tokens,
                  const std::vector<int64_t>& positions) {
  const int64_t from = index * kB, to = std::min<int64_t>(from + kB, tokens.size());
  into.append_shared(block, std::vector<int>(tokens.begin() + from, tokens.begin() + to),
                     std::vector<int64_t>(positions.begin() + from, positions.begin() + to));
}

}  // namespace

uint64_t module_blocks_hash(const ModuleKey& key) {
  const std::string name = key.to_string();
  return XXH64(name.data(), name.size(), 0x6d6f64756c65ull);  // "module"
}

bool append_pooled_module(BlockPool& pool, uint64_t module_hash, const std::vector<int>& tokens,
                          const std::vector<int64_t>& positions, PagedSequence& into) {
  const int64_t n = (static_cast<int64_t>(tokens.size()) + kB - 1) / kB;
  std::vector<int32_t> found;
  for (int64_t i = 0; i < n; ++i) {
    std::optional<int32_t> b = pool.find(block_name(module_hash, i));
    if (!b) {
      pool.release(found);
      return false;
    }
    found.push_back(*b);
  }
  for (int64_t i = 0; i < n; ++i) append_block(into, found[i], i, tokens, positions);
  pool.release(found);  // the sequence holds its own references
  return true;
}

Status append_module(BlockPool& pool, uint64_t module_hash, const ModuleKV& kv, bool keep,
                     PagedSequence& into) {
  const int64_t t = static_cast<int64_t>(kv.tokens.size());
  const int64_t n = (t + kB - 1) / kB;
  PCACHE_ASSIGN_OR_RETURN(std::vector<int32_t> blocks, pool.allocate(n));
  Status written = without_exceptions("writing module states into the KV block pool", [&] {
    std::vector<int64_t> slots;
    for (int64_t i = 0; i < t; ++i) slots.push_back(int64_t{blocks[i / kB]} * kB + i % kB);
    const at::Tensor index = at::tensor(slots, at::kLong).to(pool.keys(0).device());
    for (size_t l = 0; l < kv.k.size(); ++l) {
      at::Tensor k = pool.keys(l), v = pool.values(l);  // [slots, Hkv, D]
      k.index_copy_(0, index, kv.k[l].to(k.device(), k.scalar_type()).transpose(0, 1));  // [T, Hkv, D]
      v.index_copy_(0, index, kv.v[l].to(v.device(), v.scalar_type()).transpose(0, 1));
    }
    return Status::ok_status();
  });
  if (!written.ok()) {
    pool.release(blocks);
    return written;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (keep) pool.set_hash(blocks[i], block_name(module_hash, i));
    append_block(into, blocks[i], i, kv.tokens, kv.positions);
  }
  pool.release(blocks);
  return Status::ok_status();
}

}  // namespace pcache
