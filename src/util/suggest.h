// "Did you mean ...?": the known words nearest to a mistyped one, for the
// errors of the configuration loader and the command line.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace pcache {

// Levenshtein distance: insertions, deletions and substitutions.
size_t edit_distance(const std::string& a, const std::string& b);

// The candidates nearest to `word`, all those at the smallest distance when
// it is at most `max_distance` (top_q is as near top_k as top_p), in the
// candidates' order; none when every one is farther.
std::vector<std::string> nearest_words(const std::string& word,
                                       const std::vector<std::string>& candidates,
                                       size_t max_distance = 2);

}  // namespace pcache
