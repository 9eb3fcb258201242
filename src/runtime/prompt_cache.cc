#include "runtime/prompt_cache.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <numeric>
#include <set>

#include "model/model_config.h"
#include "runtime/module_blocks.h"

namespace pcache {
namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

const pml::Node* find_parameter(const pml::Node& module, const std::string& name) {
  for (const pml::Node& c : module.children) {
    if (c.kind == pml::Node::Kind::kParameter && c.name == name) return &c;
    if (c.kind == pml::Node::Kind::kRole) {
      if (const pml::Node* p = find_parameter(c, name)) return p;
    }
  }
  return nullptr;
}

size_t text_bytes(const std::vector<pml::Node>& nodes) {
  size_t n = 0;
  for (const pml::Node& node : nodes) n += node.text.size() + node.scaffold.size() + text_bytes(node.children);
  return n;
}

// Whether a stored entry is module m's as this model and layout encode it:
// a cache file can be damaged or crafted with a valid checksum.
bool is_entry_of(const ModuleKV& kv, const ModuleEncoder& encoder, int m, const LlamaModel& model) {
  std::vector<int> tokens;
  std::vector<int64_t> positions;
  encoder.own_entries(m, &tokens, &positions);
  const ModelConfig& c = model.config();
  if (kv.tokens != tokens || kv.positions != positions ||
      static_cast<int64_t>(kv.k.size()) != c.num_layers || kv.v.size() != kv.k.size()) {
    return false;
  }
  const auto shape = {c.num_kv_heads, static_cast<int64_t>(tokens.size()), c.head_dim};
  for (const auto* side : {&kv.k, &kv.v}) {
    for (const at::Tensor& t : *side) {
      if (!t.defined() || !t.sizes().equals(shape)) return false;
    }
  }
  return true;
}

}  // namespace

Status check_text_fits(const Tokenizer& tokenizer, const ModelConfig& config, const std::string& what,
                       size_t bytes) {
  const int64_t context = context_length(config), least = tokenizer.min_tokens(bytes);
  if (least <= context) return Status::ok_status();
  return Status::invalid_argument(what + ": " + std::to_string(bytes) + " bytes of text, at least " +
                                  std::to_string(least) + " tokens, more than the model's context of " +
                                  std::to_string(context) + " (max_position_embeddings)");
}

Status check_text_fits(const Tokenizer& tokenizer, const ModelConfig& config, const std::string& what,
                       const std::vector<ChatMessage>& messages) {
  size_t bytes = 0;
  for (const ChatMessage& m : messages) bytes += m.content.size();
  return check_text_fits(tokenizer, config, what, bytes);
}

PromptCache::PromptCache(const LlamaModel& model, const Tokenizer& tokenizer,
                         ChatTemplate chat_template, std::string model_fingerprint,
                         ModuleStore& store, pml::EncodingMode default_mode)
    : model_(model),
      tokenizer_(tokenizer),
      template_(chat_template),
      fingerprint_(std::move(model_fingerprint)),
      default_mode_(default_mode),
      store_(store) {}

StatusOr<std::string> PromptCache::add_schema(const pml::Schema& schema,
                                              const std::string& tenant) {
  PCACHE_RETURN_IF_ERROR(check_text_fits(tokenizer_, model_.config(),
                                         schema.location.to_string() + ": schema '" + schema.name + "'",
                                         text_bytes(schema.children)));
  auto compiled = std::make_shared<CompiledSchema>();
  compiled->schema = schema;
  compiled->tenant = tenant;
  if (!schema.mode_given) compiled->schema.mode = default_mode_;
  PCACHE_ASSIGN_OR_RETURN(compiled->layout, build_layout(compiled->schema, tokenizer_, template_));
  // Checked before any module is encoded, so that no forward is sized from
  // a schema the model cannot hold (a 4 MiB module would ask for terabytes).
  const int64_t context = context_length(model_.config());
  if (compiled->layout.total_length > context) {
    return Status::invalid_argument(
        schema.location.to_string() + ": schema '" + schema.name + "' lays out " +
        std::to_string(compiled->layout.total_length) + " positions, more than the model's context of " +
        std::to_string(context) + " (max_position_embeddings); expected a shorter schema");
  }
  std::lock_guard<std::mutex> lock(mu_);
  schemas_[{tenant, schema.name}] = std::move(compiled);
  return schema.name;
}

Status PromptCache::remove_schema(const std::string& name, const std::string& tenant) {
  std::lock_guard<std::mutex> lock(mu_);
  if (schemas_.erase({tenant, name}) == 0)
    return Status::not_found("unknown schema '" + name + "'");
  return Status::ok_status();
}

StatusOr<std::shared_ptr<const CompiledSchema>> PromptCache::schema(
    const std::string& name, const std::string& tenant) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = schemas_.find({tenant, name});
  if (it == schemas_.end()) it = schemas_.find({"", name});
  if (it == schemas_.end()) {
    std::string known;  // what this tenant sees
    for (const auto& [key, s] : schemas_) {
      if (key.first.empty() || key.first == tenant)
        known += (known.empty() ? "" : ", ") + key.second;
    }
    return Status::not_found("unknown schema '" + name +
                             "' (loaded: " + (known.empty() ? "none" : known) + ")");
  }
  return it->second;
}

ModuleKey PromptCache::key_of(const CompiledSchema& s, int module, uint64_t content) const {
  return ModuleKey{fingerprint_, s.schema.name, s.layout.modules[module].path, content, s.tenant};
}

ModuleKey PromptCache::key_of(const CompiledSchema& s, pml::EncodingMode mode, int module) const {
  return key_of(s, module, entries_of(s, mode, module)->content);
}

std::shared_ptr<const CompiledSchema::ModuleEntries> PromptCache::entries_of(
    const CompiledSchema& s, pml::EncodingMode mode, int module) const {
  std::lock_guard<std::mutex> lock(s.entries_mu);
  std::shared_ptr<const CompiledSchema::ModuleEntries>& slot =
      s.entries[{static_cast<int>(mode), module}];
  if (!slot) {
    const ModuleEncoder encoder(model_, s.layout, mode);
    auto e = std::make_shared<CompiledSchema::ModuleEntries>();
    encoder.own_entries(module, &e->tokens, &e->positions);
    e->content = encoder.content_hash(module);
    slot = std::move(e);
  }
  return slot;
}

StatusOr<std::shared_ptr<const ModuleKV>> PromptCache::fetch(const CompiledSchema& s,
                                                             pml::EncodingMode mode, int module,
                                                             bool read_only,
                                                             std::vector<int>* produced) {
  ModuleEncoder encoder(model_, s.layout, mode);
  const ModuleKey key = key_of(s, mode, module);
  PCACHE_ASSIGN_OR_RETURN(std::shared_ptr<const ModuleKV> hit, store_.get(key));
  produced->clear();
  // An entry that is not m's is encoded again, and replaced unless read_only.
  if (hit && is_entry_of(*hit, encoder, module, model_)) return hit;
  PCACHE_ASSIGN_OR_RETURN(std::vector<EncodedModule> fresh, encoder.encode(module));
  std::shared_ptr<const ModuleKV> wanted;
  for (EncodedModule& e : fresh) {
    auto kv = std::make_shared<const ModuleKV>(std::move(e.kv));
    if (e.module == module) wanted = kv;
    produced->push_back(e.module);
    if (!read_only) PCACHE_RETURN_IF_ERROR(store_.put(key_of(s, e.module, e.content), *kv));
  }
  if (!wanted)
    return Status::internal("encoding module '" + s.layout.modules[module].path +
                            "' produced no states");
  return wanted;
}

StatusOr<std::vector<ModuleReport>> PromptCache::compile(const std::string& schema_name,
                                                         const std::string& tenant,
                                                         const ModuleProgress& on_module) {
  PCACHE_ASSIGN_OR_RETURN(auto s, schema(schema_name, tenant));
  std::vector<int> modules;  // the cacheable ones
  for (int m = 0; m < static_cast<int>(s->layout.modules.size()); ++m) {
    const ModuleLayout& ml = s->layout.modules[m];
    if (ml.cached && ml.token_count() > 0) modules.push_back(m);
  }
  std::map<int, double> encoded_ms;  // modules encoded by this call, with their forward's time
  std::vector<ModuleReport> reports;
  for (int m : modules) {
    const ModuleLayout& ml = s->layout.modules[m];
    if (on_module) {
      on_module(ml.path, static_cast<int>(ml.token_count()), static_cast<int>(reports.size()),
                static_cast<int>(modules.size()));
    }
    auto start = std::chrono::steady_clock::now();
    std::vector<int> produced;
    PCACHE_ASSIGN_OR_RETURN(auto kv, fetch(*s, s->schema.mode, m, /*read_only=*/false, &produced));
    const double ms = ms_since(start);
    for (int p : produced) encoded_ms[p] = ms;  // one forward may yield several (scaffold)
    ModuleReport r;
    r.module = ml.path;
    r.tokens = static_cast<int>(kv->tokens.size());
    r.first_position = ml.start;
    r.end_position = ml.end;
    r.bytes = kv->bytes();
    auto it = encoded_ms.find(m);
    r.was_cached = it == encoded_ms.end();
    r.encode_ms = r.was_cached ? 0.0 : it->second;
    reports.push_back(r);
  }
  return reports;
}

StatusOr<PromptCache::Plan> PromptCache::plan(const pml::Prompt& prompt, const PromptScope& scope,
                                              bool allow_empty) const {
  Plan p;
  PCACHE_ASSIGN_OR_RETURN(p.compiled, schema(prompt.schema, scope.tenant));
  p.mode = scope.mode.value_or(p.compiled->schema.mode);
  const Layout& layout = p.compiled->layout;
  PCACHE_ASSIGN_OR_RETURN(std::vector<pml::Selection> selected,
                          pml::bind(p.compiled->schema, prompt));
  auto add = [&](const std::vector<int>& tokens, int64_t start) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      p.tokens.push_back(tokens[i]);
      p.positions.push_back(start + static_cast<int64_t>(i));
    }
  };
  size_t bytes = 0;  // the prompt's own text, bounded before it is encoded
  for (const pml::Selection& sel : selected) {
    for (const auto& [name, value] : sel.arguments) bytes += value.size();
  }
  for (const pml::Turn& turn : prompt.turns) bytes += turn.text.size();
  PCACHE_RETURN_IF_ERROR(
      check_text_fits(tokenizer_, model_.config(), prompt.location.to_string(), bytes));
  std::vector<std::pair<int, const pml::Selection*>> modules = {{0, nullptr}};  // the root always
  for (const pml::Selection& sel : selected) modules.push_back({layout.by_path.at(sel.path), &sel});
  for (const auto& [m, sel] : modules) {
    const ModuleLayout& ml = layout.modules[m];
    if (ml.cached && ml.token_count() > 0) p.cached_modules.push_back(m);
    for (const Segment& seg : ml.segments) {
      if (!seg.is_parameter()) {
        if (!ml.cached) add(seg.tokens, seg.start);
        continue;
      }
      const std::string& value = sel->arguments.at(seg.parameter);
      std::vector<int> tokens = tokenizer_.encode(value);
      if (static_cast<int64_t>(tokens.size()) > seg.length) {
        const pml::Node* param = find_parameter(*ml.node, seg.parameter);
        return Status::invalid_argument(
            sel->location.to_string() + ": value of parameter '" + seg.parameter + "' of module '" +
            ml.path + "' is " + std::to_string(tokens.size()) + " tokens, longer than its length " +
            std::to_string(seg.length) +
            (param ? " (declared at " + param->location.to_string() + ")" : ""));
      }
      add(tokens, seg.start);
    }
  }
  int64_t pos = layout.total_length;
  for (const pml::Turn& turn : prompt.turns) {
    std::vector<int> tokens;
    if (turn.role != pml::Role::kNone) {
      PCACHE_ASSIGN_OR_RETURN(RoleTokens wrap, role_tokens(tokenizer_, template_, turn.role));
      tokens = wrap.before;
      std::vector<int> text = tokenizer_.encode(turn.text);
      tokens.insert(tokens.end(), text.begin(), text.end());
      tokens.insert(tokens.end(), wrap.after.begin(), wrap.after.end());
    } else {
      tokens = tokenizer_.encode(turn.text);
    }
    add(tokens, pos);
    pos += static_cast<int64_t>(tokens.size());
  }
  if (p.tokens.empty() && !allow_empty) {
    return Status::invalid_argument(
        prompt.location.to_string() +
        ": the prompt has nothing to compute: add new text such as <user>...</user>");
  }
  // Ascending positions: causal order among the computed tokens.
  std::vector<size_t> order(p.tokens.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return p.positions[a] < p.positions[b]; });
  std::vector<int> tokens;
  std::vector<int64_t> positions;
  for (size_t i : order) {
    tokens.push_back(p.tokens[i]);
    positions.push_back(p.positions[i]);
  }
  p.tokens = std::move(tokens);
  p.positions = std::move(positions);
  p.next_position = layout.total_length;
  if (!p.positions.empty()) p.next_position = std::max(p.next_position, p.positions.back() + 1);
  for (int m : p.cached_modules) p.next_position = std::max(p.next_position, layout.modules[m].end);
  return p;
}

StatusOr<AssembledPrompt> PromptCache::assemble(const pml::Prompt& prompt, const PromptScope& scope,
                                                BlockPool& pool, bool read_only, bool allow_empty,
                                                int64_t extra_room) {
  PCACHE_ASSIGN_OR_RETURN(Plan p, plan(prompt, scope, allow_empty));
  PCACHE_RETURN_IF_ERROR(
      check_context(model_.config(), prompt.location.to_string(), p.next_position, extra_room));
  AssembledPrompt out(pool);
  out.tokens = std::move(p.tokens);
  out.positions = std::move(p.positions);
  out.next_position = p.next_position;
  std::set<int> encoded_here;
  for (int m : p.cached_modules) {
    const auto entries = entries_of(*p.compiled, p.mode, m);
    const std::vector<int>& tokens = entries->tokens;
    const std::vector<int64_t>& positions = entries->positions;
    if (tokens.empty()) continue;
    const std::string& path = p.compiled->layout.modules[m].path;
    const uint64_t name = module_blocks_hash(key_of(*p.compiled, m, entries->content));
    out.cached_tokens += static_cast<int64_t>(tokens.size());
    if (append_pooled_module(pool, name, tokens, positions, out.sequence)) {
      ++out.modules_reused;
      out.reused_modules.push_back(path);
      continue;
    }
    std::vector<int> produced;
    PCACHE_ASSIGN_OR_RETURN(auto kv, fetch(*p.compiled, p.mode, m, read_only, &produced));
    // Encoded for this request: now, or by an earlier module's forward
    // (scaffold mode yields every module on a path at once).
    encoded_here.insert(produced.begin(), produced.end());
    const bool encoded = encoded_here.count(m) > 0;
    (encoded ? out.modules_encoded : out.modules_reused)++;
    (encoded ? out.encoded_modules : out.reused_modules).push_back(path);
    PCACHE_RETURN_IF_ERROR(append_module(pool, name, *kv, !read_only, out.sequence));
  }
  return out;
}

StatusOr<PromptCache::Flat> PromptCache::flatten(const pml::Prompt& prompt,
                                                 const PromptScope& scope) const {
  PCACHE_ASSIGN_OR_RETURN(Plan p, plan(prompt, scope));
  std::vector<std::pair<int64_t, int64_t>> all;  // (position, token)
  for (size_t i = 0; i < p.tokens.size(); ++i) all.push_back({p.positions[i], p.tokens[i]});
  for (int m : p.cached_modules) {
    for (const Segment& seg : p.compiled->layout.modules[m].segments) {
      if (seg.is_parameter()) continue;
      for (size_t i = 0; i < seg.tokens.size(); ++i)
        all.push_back({seg.start + static_cast<int64_t>(i), seg.tokens[i]});
    }
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  Flat out;
  for (const auto& [pos, tok] : all) {
    out.tokens.push_back(tok);
    out.positions.push_back(pos);
  }
  out.next_position = p.next_position;
  return out;
}

}  // namespace pcache
