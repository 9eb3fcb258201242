// PromptCache: the schemas an engine knows, their layouts, and the module
// store; turns a PML prompt into a KV cache holding the imported modules'
// states plus the tokens that still need computing (docs/architecture.md,
// "Serving a prompt").
//
// Thread-safe: schemas are registered under a lock and shared immutably; the
// store has its own lock.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cache/module_store.h"
#include "compiler/encoder.h"
#include "compiler/layout.h"
#include "model/block_pool.h"
#include "model/llama.h"
#include "model/paged_sequence.h"
#include "pcache/generation.h"
#include "pcache/tokenizer.h"
#include "pml/pml.h"

namespace pcache {

// InvalidArgument naming `what` when `bytes` of text cannot encode to as few
// tokens as the model's context holds (Tokenizer::min_tokens), found before
// any of it is encoded: megabytes of text are refused at once, not after
// seconds of encoding.
Status check_text_fits(const Tokenizer& tokenizer, const ModelConfig& config, const std::string& what,
                       size_t bytes);
// The same for the contents of a conversation.
Status check_text_fits(const Tokenizer& tokenizer, const ModelConfig& config, const std::string& what,
                       const std::vector<ChatMessage>& messages);

struct CompiledSchema {
  pml::Schema schema;
  Layout layout;       // points into `schema`
  std::string tenant;  // who registered it ("" : the engine, for every tenant)

  // A module's own entries (what a prompt imports) and its content hash in
  // an encoding mode, computed on first use (PromptCache::entries_of): a
  // layout never changes, and recomputing them per request (gathers and
  // sorts of the module's entries, and hashes) was most of a long module's
  // assembly.
  struct ModuleEntries {
    std::vector<int> tokens;
    std::vector<int64_t> positions;
    uint64_t content = 0;
  };
  mutable std::mutex entries_mu;
  mutable std::map<std::pair<int, int>, std::shared_ptr<const ModuleEntries>> entries;  // (mode, module)
};

// Whose schemas a call sees, and how a prompt's modules are encoded.
struct PromptScope {
  // "" : the shared schemas only. A tenant sees its own schemas first, then
  // the shared ones, never another tenant's. A module is stored under its
  // schema's tenant (ModuleKey::tenant, locally and in the remote tier), so
  // that no entry of one tenant's schema is ever another's.
  std::string tenant;
  // The encoding mode of the prompt's modules; nullopt: the schema's. Each
  // mode's states are kept apart (the mode is in the content hash).
  std::optional<pml::EncodingMode> mode;
};

// A prompt ready for prefill: `sequence` holds the imported modules'
// entries (their pool blocks, shared); `tokens` at `positions` (ascending)
// are the parameter values, uncached modules and new text to compute,
// attending to every entry and causally among themselves.
struct AssembledPrompt {
  explicit AssembledPrompt(BlockPool& pool) : sequence(pool) {}
  PagedSequence sequence;
  std::vector<int> tokens;
  std::vector<int64_t> positions;
  // Where decoding (or any text added later) goes on: after everything the
  // prompt holds, and never before the schema's total length.
  int64_t next_position = 0;
  int64_t cached_tokens = 0;
  int modules_reused = 0, modules_encoded = 0;
  // The paths of those modules ("" is the schema's own text), in prompt order.
  std::vector<std::string> reused_modules, encoded_modules;
};

class PromptCache {
 public:
  PromptCache(const LlamaModel& model, const Tokenizer& tokenizer, ChatTemplate chat_template,
              std::string model_fingerprint, ModuleStore& store, pml::EncodingMode default_mode);

  // Parses and lays out a schema and registers it under its name for
  // `tenant` ("" : shared), replacing that tenant's earlier one (modules
  // whose inputs did not change keep their states).
  StatusOr<std::string> add_schema(const pml::Schema& schema, const std::string& tenant = "");
  // The schema `tenant` sees under `name` (its own, else the shared one).
  StatusOr<std::shared_ptr<const CompiledSchema>> schema(const std::string& name,
                                                         const std::string& tenant = "") const;
  // Forgets `tenant`'s schema (NotFound when it has none of that name, even
  // if a shared one exists); prompts already bound keep it.
  Status remove_schema(const std::string& name, const std::string& tenant = "");

  // Encodes and stores every cacheable module of the schema `tenant` sees
  // under that name that is missing (Engine::compile).
  StatusOr<std::vector<ModuleReport>> compile(const std::string& schema_name,
                                              const std::string& tenant = "",
                                              const ModuleProgress& on_module = {});

  // Binds the prompt to its schema, appends the modules' blocks from `pool`
  // (zero copy when the pool holds them; else written from the store, or
  // encoded and stored unless read_only: module_blocks.h) and lists what is
  // left. Unless allow_empty, a prompt with nothing left to compute is an
  // error. The prompt and `extra_room` tokens after it must fit the context.
  StatusOr<AssembledPrompt> assemble(const pml::Prompt& prompt, const PromptScope& scope,
                                     BlockPool& pool, bool read_only, bool allow_empty = false,
                                     int64_t extra_room = 0);

  // The same tokens at the same positions, without any cache: the baseline
  // (`pcache run --no-cache`). Sorted by position; next_position as assemble's.
  struct Flat {
    std::vector<int> tokens;
    std::vector<int64_t> positions;
    int64_t next_position = 0;
  };
  StatusOr<Flat> flatten(const pml::Prompt& prompt, const PromptScope& scope) const;

 private:
  // The pieces a bound prompt is made of.
  struct Plan {
    std::shared_ptr<const CompiledSchema> compiled;
    pml::EncodingMode mode = pml::EncodingMode::kScaffold;  // the scope's, else the schema's
    std::vector<int> cached_modules;                 // layout indices, with tokens
    std::vector<int> tokens;                         // to compute (sorted by position)
    std::vector<int64_t> positions;
    int64_t next_position = 0;
  };
  StatusOr<Plan> plan(const pml::Prompt& prompt, const PromptScope& scope,
                      bool allow_empty = false) const;
  ModuleKey key_of(const CompiledSchema& s, int module, uint64_t content) const;
  ModuleKey key_of(const CompiledSchema& s, pml::EncodingMode mode, int module) const;
  std::shared_ptr<const CompiledSchema::ModuleEntries> entries_of(const CompiledSchema& s,
                                                                 pml::EncodingMode mode,
                                                                 int module) const;
  // The module's states (encoded in `mode`) from the store, or encoded now
  // (and stored unless read_only); `produced` lists the modules an encoding
  // yielded (empty on a hit).
  StatusOr<std::shared_ptr<const ModuleKV>> fetch(const CompiledSchema& s, pml::EncodingMode mode,
                                                  int module, bool read_only,
                                                  std::vector<int>* produced);

  const LlamaModel& model_;
  const Tokenizer& tokenizer_;
  ChatTemplate template_;
  std::string fingerprint_;
  pml::EncodingMode default_mode_;
  ModuleStore& store_;
  mutable std::mutex mu_;
  // By (tenant, name).
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const CompiledSchema>> schemas_;
};

}  // namespace pcache
