#include "tokenizer/bpe_model.h"

#include <functional>
#include <queue>
#include <tuple>

#include "util/excerpt.h"
#include "util/utf8.h"

namespace pcache::tokenizer_internal {

StatusOr<BpeModel> BpeModel::build(std::unordered_map<std::string, int> vocab,
                                   const std::vector<std::pair<std::string, std::string>>& merges,
                                   Options options, const std::string& source) {
  BpeModel m;
  m.vocab_ = std::move(vocab);
  m.options_ = options;
  m.merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    auto l = m.vocab_.find(left), r = m.vocab_.find(right), merged = m.vocab_.find(left + right);
    if (l == m.vocab_.end() || r == m.vocab_.end() || merged == m.vocab_.end()) {
      const std::string& missing = l == m.vocab_.end()   ? left
                                   : r == m.vocab_.end() ? right
                                                         : left + right;
      return Status::corruption(source + ": merge " + std::to_string(rank) + " (" + excerpt(left) +
                                " " + excerpt(right) + "): " + excerpt(missing) +
                                " is not in the vocabulary");
    }
    // The first of two equal merges wins, as in tokenizers.
    m.merges_.emplace(key(l->second, r->second), Merge{static_cast<int>(rank), merged->second});
  }
  return m;
}

std::optional<int> BpeModel::id(std::string_view piece) const {
  auto it = vocab_.find(std::string(piece));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

void BpeModel::encode(std::string_view word, std::vector<int>* out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (auto whole = id(word)) {
      out->push_back(*whole);
      return;
    }
  }
  // The word's characters as a linked list of symbols.
  struct Symbol {
    int id;
    int prev, next;
    bool alive;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (size_t i = 0; i < word.size();) {
    const size_t n = std::max<size_t>(1, utf8_char_length(word.substr(i)));
    std::optional<int> c = id(word.substr(i, n));
    if (!c) c = options_.unk_id;
    if (c) {
      const int at = static_cast<int>(symbols.size());
      symbols.push_back({*c, at - 1, at + 1, true});
    }
    i += n;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  // (rank, position, merged id), lowest rank first, then leftmost.
  using Candidate = std::tuple<int, int, int>;
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  const auto consider = [&](int pos) {
    const int next = symbols[pos].next;
    if (next < 0) return;
    auto it = merges_.find(key(symbols[pos].id, symbols[next].id));
    if (it != merges_.end()) queue.emplace(it->second.rank, pos, it->second.id);
  };
  for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) consider(i);
  while (!queue.empty()) {
    const auto [rank, pos, merged] = queue.top();
    queue.pop();
    Symbol& left = symbols[pos];
    // Stale: the symbol was merged away, or its right neighbour changed.
    if (!left.alive || left.next < 0) continue;
    auto it = merges_.find(key(left.id, symbols[left.next].id));
    if (it == merges_.end() || it->second.id != merged) continue;
    Symbol& right = symbols[left.next];
    left.id = merged;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = pos;
    if (left.prev >= 0) consider(left.prev);
    consider(pos);
  }
  for (const Symbol& s : symbols) {
    if (s.alive) out->push_back(s.id);
  }
}

}  // namespace pcache::tokenizer_internal
