// Pieces shared by the `pcache bench` modes: prompt text of a given length in
// tokens, percentiles, length lists, and the machine's description.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "pcache/status.h"
#include "pcache/tokenizer.h"

namespace pcache::cli {

// n one-piece English words from the tokenizer (so n tokens), repeatable per seed.
std::string words_text(const Tokenizer& tok, int64_t n, uint64_t seed);

// The q-quantile (0..1) of v, interpolated linearly between ranks; 0 when empty.
double percentile(std::vector<double> v, double q);

struct Summary {
  double median = 0, p90 = 0;
};
Summary summarize(const std::vector<double>& v);
nlohmann::json to_json(const Summary& s);

// "512,4k,16384" -> lengths in tokens (1 .. 1M); sets *error naming `what` otherwise.
std::vector<int64_t> parse_lengths(const std::string& list, const char* what, Status* error);

std::string iso_date();
std::string hostname();
std::string cpu_name();

}  // namespace pcache::cli
