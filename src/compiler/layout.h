// Layout: the fixed position ids of everything in a schema.
//
// Rule (docs/pml.md, "Layout and encoding"): a depth-first walk in document
// order. Position 0 is bos. Each text run takes the next positions, one per
// token; a role tag adds the chat template's tokens around its content; a
// parameter reserves `length` positions; the members of a union all start at
// the union's first position and the union takes as many positions as its
// longest member. The schema's total length, where every prompt's new text
// starts, is the end of the walk. Positions therefore depend only on the
// schema, never on what a prompt selects.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pcache/status.h"
#include "pcache/tokenizer.h"
#include "pml/pml.h"

namespace pcache {

// A run of consecutive positions owned by one module.
struct Segment {
  int64_t start = 0;        // first position
  int64_t length = 0;       // positions reserved: tokens.size() for text, the slot for a parameter
  std::vector<int> tokens;  // text tokens, or the parameter's placeholder (scaffold text or unk)
  std::string parameter;    // the parameter's name; empty for text
  bool is_parameter() const { return !parameter.empty(); }
};

struct ModuleLayout {
  std::string path;                // "" for the root (the schema's own text), "menu/specials"
  const pml::Node* node = nullptr; // null for the root
  bool cached = true;
  int parent = -1;                 // index in Layout::modules; -1 for the root
  int union_index = -1;            // the union it is a member of, or -1
  int64_t start = 0, end = 0;      // positions [start, end), children included
  std::vector<Segment> segments;   // its own runs (children's are theirs), by position
  std::vector<int> children;       // child modules, in document order
  int64_t token_count() const;     // text tokens in `segments`
};

struct UnionLayout {
  int parent = -1;           // the module holding the union
  int64_t start = 0, length = 0;
  std::vector<int> members;  // module indices
  int scaffold = -1;         // module index of the scaffold member
};

struct Layout {
  std::vector<ModuleLayout> modules;  // [0] is the root; parents before children
  std::vector<UnionLayout> unions;
  int64_t total_length = 0;
  std::map<std::string, int> by_path;

  // Whether module `m` is on the default (scaffold) path: every union above
  // it chose its scaffold member.
  bool on_default_path(int m) const;
};

// The token ids a role tag adds before and after its content, for a template
// (see docs/pml.md): Mistral [INST] ... [/INST] for system and user, answer
// then eos for assistant; Llama-2 likewise with <<SYS>> markers for system;
// Llama 3 and ChatML a whole message of the role (ChatTurns::message_start,
// end_of_answer).
struct RoleTokens {
  std::vector<int> before, after;
};
StatusOr<RoleTokens> role_tokens(const Tokenizer& tokenizer, ChatTemplate chat_template,
                                 pml::Role role);

// Errors: InvalidArgument at the schema's location (a parameter scaffold
// text longer than its slot; a role the template cannot express).
StatusOr<Layout> build_layout(const pml::Schema& schema, const Tokenizer& tokenizer,
                              ChatTemplate chat_template);

}  // namespace pcache
