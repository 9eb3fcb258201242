// `pcache bench --concurrency 1,4,16,64`: N requests at once through the
// engine's scheduler, each a PML prompt over one shared module plus its own
// question, each generating the same number of tokens (docs/benchmarks.md,
// "Many requests at once"). Uses only the public API.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

#include "cli/common.h"
#include "pcache/engine.h"

namespace pcache::cli {

// Appends one row per level of `concurrency` to out["results"], printing a
// table on stderr as it goes; the module is b.module_tokens' first length,
// each question b.new_tokens' first, each answer b.decode_tokens tokens.
Status bench_concurrency(Engine& engine, const BenchOptions& b,
                         const std::vector<int64_t>& concurrency, nlohmann::json& out);

}  // namespace pcache::cli
