#include "compiler/encoder.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "cache/module_file_format.h"
#include "model/model_config.h"
#include "xxhash.h"

namespace pcache {

// The encoder writes every layer of any model it is given into the store,
// whose files refuse more than module_file_format::kMaxLayers: the two
// bounds, in layers that do not see each other, must agree.
static_assert(module_file_format::kMaxLayers >= kMaxLayers,
              "module cache files must hold as many layers as a model may have");

std::vector<int> ModuleEncoder::context_of(int m) const {
  if (mode_ == pml::EncodingMode::kIndependent) {
    std::vector<int> chain;
    for (int x = m; x >= 0; x = layout_.modules[x].parent) chain.push_back(x);
    std::sort(chain.begin(), chain.end());
    return chain;
  }
  // The union choices m needs; every other union takes its scaffold member.
  std::map<int, int> choice;
  for (int x = m; x > 0; x = layout_.modules[x].parent) {
    if (layout_.modules[x].union_index >= 0) choice[layout_.modules[x].union_index] = x;
  }
  std::vector<int> path;
  for (int x = 0; x < static_cast<int>(layout_.modules.size()); ++x) {
    bool on = true;
    for (int y = x; y > 0 && on; y = layout_.modules[y].parent) {
      const int u = layout_.modules[y].union_index;
      if (u < 0) continue;
      auto it = choice.find(u);
      on = y == (it != choice.end() ? it->second : layout_.unions[u].scaffold);
    }
    if (on) path.push_back(x);
  }
  return path;
}

ModuleEncoder::Run ModuleEncoder::gather(const std::vector<int>& modules, int64_t end) const {
  struct Entry {
    int64_t position, token;
    int owner;
    bool placeholder;
  };
  std::vector<Entry> entries;
  for (int m : modules) {
    for (const Segment& s : layout_.modules[m].segments) {
      for (size_t i = 0; i < s.tokens.size(); ++i) {
        const int64_t pos = s.start + static_cast<int64_t>(i);
        if (pos < end) entries.push_back({pos, s.tokens[i], m, s.is_parameter()});
      }
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.position < b.position; });
  Run run;
  for (const Entry& e : entries) {
    run.tokens.push_back(e.token);
    run.positions.push_back(e.position);
    run.owner.push_back(e.owner);
    run.placeholder.push_back(e.placeholder);
  }
  return run;
}

uint64_t ModuleEncoder::hash_run(const Run& run, int64_t end) const {
  XXH64_state_t* state = XXH64_createState();
  XXH64_reset(state, 0);
  const int mode = static_cast<int>(mode_);
  XXH64_update(state, &mode, sizeof mode);
  for (size_t i = 0; i < run.tokens.size(); ++i) {
    if (run.positions[i] >= end) break;
    const int64_t item[2] = {run.tokens[i], run.positions[i]};
    XXH64_update(state, item, sizeof item);
  }
  const uint64_t h = XXH64_digest(state);
  XXH64_freeState(state);
  return h;
}

uint64_t ModuleEncoder::content_hash(int m) const {
  // Causal attention: m's states depend on nothing after its last own token.
  int64_t end = layout_.modules[m].start;
  for (const Segment& seg : layout_.modules[m].segments) {
    if (!seg.is_parameter()) end = std::max(end, seg.start + static_cast<int64_t>(seg.tokens.size()));
  }
  // The context fixes the values; m's own entries (by position) fix which of
  // them are stored.
  const uint64_t own = hash_run(gather({m}, end), end);
  return XXH64(&own, sizeof own, hash_run(gather(context_of(m), end), end));
}

void ModuleEncoder::own_entries(int m, std::vector<int>* tokens,
                                std::vector<int64_t>* positions) const {
  const Run run = gather({m}, layout_.modules[m].end);
  tokens->clear();
  positions->clear();
  for (size_t i = 0; i < run.tokens.size(); ++i) {
    if (run.placeholder[i]) continue;
    tokens->push_back(static_cast<int>(run.tokens[i]));
    positions->push_back(run.positions[i]);
  }
}

StatusOr<std::vector<EncodedModule>> ModuleEncoder::encode(int m) const {
  std::vector<int> forwards_of;  // modules whose K/V the forward yields
  std::vector<int> context;      // modules whose tokens the forward runs
  int64_t end = layout_.total_length;
  context = context_of(m);
  if (mode_ == pml::EncodingMode::kIndependent) {
    forwards_of = {m};
    end = layout_.modules[m].end;
  } else {
    if (layout_.on_default_path(m)) {
      forwards_of = context;
    } else {
      end = layout_.modules[m].end;
      for (int x : context) {
        int y = x;
        while (y > 0 && y != m) y = layout_.modules[y].parent;
        if (y == m) forwards_of.push_back(x);
      }
    }
  }
  Run run = gather(context, end);
  std::vector<EncodedModule> out;
  if (run.tokens.empty()) return out;
  const int64_t n = static_cast<int64_t>(run.tokens.size());
  KVCache cache = model_.new_cache(1);
  ForwardOptions opts;
  opts.last_logits_only = true;
  PCACHE_RETURN_IF_ERROR(model_.forward(at::tensor(run.tokens, at::kLong).view({1, n}),
                                        at::tensor(run.positions, at::kLong).view({1, n}), cache,
                                        opts)
                             .status());
  for (int x : forwards_of) {
    if (!layout_.modules[x].cached) continue;
    std::vector<int64_t> rows;
    EncodedModule e;
    e.module = x;
    for (int64_t i = 0; i < n; ++i) {
      if (run.owner[i] == x && !run.placeholder[i]) {
        rows.push_back(i);
        e.kv.tokens.push_back(static_cast<int>(run.tokens[i]));
        e.kv.positions.push_back(run.positions[i]);
      }
    }
    if (rows.empty()) continue;
    at::Tensor index = at::tensor(rows, at::kLong).to(model_.device());
    for (int64_t l = 0; l < cache.num_layers(); ++l) {
      // cache: [1, Hkv, n, D] -> module: [Hkv, T, D]
      e.kv.k.push_back(cache.keys(l)[0].index_select(1, index));
      e.kv.v.push_back(cache.values(l)[0].index_select(1, index));
    }
    e.content = content_hash(x);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace pcache
