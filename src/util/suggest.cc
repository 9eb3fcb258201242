#include "util/suggest.h"

#include <algorithm>

namespace pcache {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::vector<std::string> nearest_words(const std::string& word,
                                       const std::vector<std::string>& candidates,
                                       size_t max_distance) {
  size_t best = max_distance + 1;
  std::vector<std::string> closest;
  for (const std::string& candidate : candidates) {
    const size_t d = edit_distance(word, candidate);
    if (d < best) best = d, closest.clear();
    if (d == best) closest.push_back(candidate);
  }
  return closest;
}

}  // namespace pcache
