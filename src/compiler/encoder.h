// ModuleEncoder: computes the K/V of schema modules at their layout
// positions, in the schema's encoding mode (docs/pml.md):
// - independent: a module attends to its own tokens and to the text of its
//   ancestors before it (the schema's own text, its parent's), which every
//   prompt that imports it also holds; never to siblings, so any combination
//   of modules is equally valid;
// - scaffold: a module attends to everything before it on its path: the
//   default path (every union at its scaffold member), or, for a member that
//   is not a scaffold, the path through it and its ancestors.
// Parameter slots hold their placeholders while encoding; their entries are
// not part of the stored module (values are computed per request).
#pragma once

#include <vector>

#include "cache/module_store.h"
#include "compiler/layout.h"
#include "model/llama.h"
#include "pml/pml.h"

namespace pcache {

struct EncodedModule {
  int module = -1;  // index in the layout
  uint64_t content = 0;
  ModuleKV kv;
};

class ModuleEncoder {
 public:
  ModuleEncoder(const LlamaModel& model, const Layout& layout, pml::EncodingMode mode)
      : model_(model), layout_(layout), mode_(mode) {}

  // Hash of everything module m's K/V depends on: the mode and the tokens and
  // positions it attends to (its own included).
  uint64_t content_hash(int m) const;

  // Encodes module m. In scaffold mode the same forward also yields other
  // cached modules on m's path (the whole default path when m is on it; m's
  // descendants otherwise), returned too. cache="false" modules are never
  // returned.
  StatusOr<std::vector<EncodedModule>> encode(int m) const;

  // What encode() stores for module m, in order: its own text tokens (not
  // parameter placeholders) and their positions. A stored entry that holds
  // anything else is not m's.
  void own_entries(int m, std::vector<int>* tokens, std::vector<int64_t>* positions) const;

  // The modules whose tokens before m's end m attends to (m included),
  // sorted by index: its ancestors (independent) or its path (scaffold).
  std::vector<int> context_of(int m) const;

 private:
  // Text and placeholder segments of `modules`, flattened and sorted by position.
  struct Run {
    std::vector<int64_t> tokens, positions;
    std::vector<int> owner;        // module index per entry
    std::vector<bool> placeholder;
  };
  Run gather(const std::vector<int>& modules, int64_t end) const;
  uint64_t hash_run(const Run& run, int64_t end) const;

  const LlamaModel& model_;
  const Layout& layout_;
  pml::EncodingMode mode_;
};

}  // namespace pcache
