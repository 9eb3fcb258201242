// BpeModel: a byte-pair-encoding vocabulary and its ranked merges (the "model"
// of a Hugging Face tokenizer.json of type BPE), encoding one pre-tokenized
// word at a time exactly as tokenizers' BPE does without dropout: the word's
// characters become their ids, then the adjacent pair of lowest merge rank
// (leftmost among equals) is merged, again and again, while any pair has a
// merge.
//
// Immutable once built; encode() is safe from several threads at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pcache/status.h"

namespace pcache::tokenizer_internal {

class BpeModel {
 public:
  struct Options {
    // A word found whole in the vocabulary is that one id (Llama 3).
    bool ignore_merges = false;
    // For a character with no id; without it such characters are dropped
    // (as tokenizers does).
    std::optional<int> unk_id;
  };

  // `vocab`: piece -> id; `merges`: pairs of pieces, highest priority first.
  // Errors (messages start with `source`): Corruption when a merge names a
  // piece not in the vocabulary or makes one that is not.
  static StatusOr<BpeModel> build(std::unordered_map<std::string, int> vocab,
                                  const std::vector<std::pair<std::string, std::string>>& merges,
                                  Options options, const std::string& source);

  // The ids of one word (UTF-8), appended to `out`.
  void encode(std::string_view word, std::vector<int>* out) const;

  std::optional<int> id(std::string_view piece) const;

 private:
  struct Merge {
    int rank;
    int id;  // of the merged piece
  };
  static uint64_t key(int left, int right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }

  std::unordered_map<std::string, int> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;
  Options options_;
};

}  // namespace pcache::tokenizer_internal
