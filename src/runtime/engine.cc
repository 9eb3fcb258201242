#include "pcache/engine.h"

#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>

#include "cache/module_store.h"
#include "model/checkpoint.h"
#include "model/llama.h"
#include "model/reference_check.h"
#include "pml/pml.h"
#include "runtime/engine_impl.h"
#include "runtime/prompt_cache.h"
#include "runtime/sampler.h"
#include "util/file_util.h"
#include "xxhash.h"

#if defined(PCACHE_HAVE_CUDA)
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace pcache {
namespace {

const char* dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    default: return "other";
  }
}

constexpr size_t kMaxPrefixes = 32;

}  // namespace

StatusOr<int64_t> Engine::Impl::reuse_prefix(const std::vector<int>& prompt, KVCache& cache) {
  std::vector<int> best;
  size_t best_len = 0;
  {
    std::lock_guard<std::mutex> lock(prefix_mu);
    for (const auto& p : prefixes) {
      size_t n = std::mismatch(p.begin(), p.end(), prompt.begin(), prompt.end()).first - p.begin();
      n = std::min(n, prompt.size() - 1);
      if (n > best_len) {
        best_len = n;
        best = p;
      }
    }
  }
  if (best_len == 0) return 0;
  auto found = store->get(prefix_key(best));
  if (!found.ok() || !found.value()) return 0;  // evicted or unreadable: a cache, not a must
  const auto& kv = found.value();
  const int64_t n = static_cast<int64_t>(best_len);
  std::vector<at::Tensor> ks, vs;
  for (size_t l = 0; l < kv->k.size(); ++l) {
    ks.push_back(kv->k[l].narrow(1, 0, n).unsqueeze(0));  // [1, Hkv, n, D]
    vs.push_back(kv->v[l].narrow(1, 0, n).unsqueeze(0));
  }
  cache.append(ks, vs, at::arange(n, at::kLong).unsqueeze(0).to(model->device()));
  return n;
}

void Engine::Impl::remember_prefix(const std::vector<int>& prompt, const KVCache& cache) {
  const int64_t n = static_cast<int64_t>(prompt.size());
  ModuleKV kv;
  kv.tokens = prompt;
  for (int64_t i = 0; i < n; ++i) kv.positions.push_back(i);
  for (int64_t l = 0; l < cache.num_layers(); ++l) {
    // Views: the store copies them into its own buffer (ModuleStore::put).
    kv.k.push_back(cache.keys(l)[0].narrow(1, 0, n));
    kv.v.push_back(cache.values(l)[0].narrow(1, 0, n));
  }
  if (!store->put(prefix_key(prompt), std::move(kv)).ok()) return;  // a cache, not a must
  std::lock_guard<std::mutex> lock(prefix_mu);
  prefixes.erase(std::remove(prefixes.begin(), prefixes.end(), prompt), prefixes.end());
  prefixes.push_front(prompt);
  if (prefixes.size() > kMaxPrefixes) prefixes.pop_back();
}

Status Engine::Impl::check_tokens(const std::vector<int>& ids, const char* what) const {
  const int64_t vocab = model->config().vocab_size;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return Status::invalid_argument(
          std::string(what) + ": token " + std::to_string(i) + " has id " + std::to_string(ids[i]) +
          ", outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
  }
  return Status::ok_status();
}

StatusOr<SamplerState> Engine::Impl::decode(Lease& lease, at::Tensor logits,
                                            int64_t next_position, const SamplingOptions& options,
                                            const std::optional<SamplerState>& resume,
                                            const TextCallback& on_text, Clock::time_point start,
                                            Generation& gen) const {
  const ModelConfig& config = model->config();
  Sampler sampler(options, resume);
  std::optional<TokenStreamDecoder> stream;
  if (tokenizer) stream.emplace(*tokenizer);
  auto is_eos = [&](int id) {
    return std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), id) !=
           config.eos_token_ids.end();
  };
  // Text pieces go to the callback as they come; false from it stops.
  auto emit = [&](const std::string& piece) {
    gen.text += piece;
    return piece.empty() || !on_text || on_text(piece);
  };
  const auto sample_start = Clock::now();
  int next = sampler.sample(logits);
  gen.timings.first_token_ms = ms_since(start);
  auto decode_start = Clock::now();
  gen.stop_reason = StopReason::kMaxTokens;
  for (;;) {
    if (options.stop_at_eos && is_eos(next)) {
      gen.stop_reason = StopReason::kEos;
      break;
    }
    gen.tokens.push_back(next);
    if (stream && !emit(stream->push(next))) {
      gen.stop_reason = StopReason::kCallback;
      break;
    }
    if (static_cast<int>(gen.tokens.size()) >= options.max_tokens) break;
    // A step replays the workspace's graphs when there is one.
    PCACHE_ASSIGN_OR_RETURN(at::Tensor out, forward_last(lease, {next}, {next_position++}));
    next = sampler.sample(out);
  }
  if (stream) emit(stream->flush());
  gen.timings.generated_tokens = static_cast<int>(gen.tokens.size());
  gen.timings.decode_ms = gen.tokens.size() > 1 ? ms_since(decode_start) : 0.0;
  gen.steps.push_back({"sample", ms_since(sample_start), gen.timings.generated_tokens});
  return sampler.state();
}

Status Engine::Impl::open_cache(int64_t capacity, Lease& lease) const {
  if (workspaces) {
    PCACHE_ASSIGN_OR_RETURN(lease.workspace, workspaces->acquire(capacity));
    lease.cache.emplace(lease.workspace->take());
    return Status::ok_status();
  }
  lease.cache.emplace(model->new_cache(1));
  try {
    lease.cache->reserve(capacity);  // prompt and answer: the buffers never move
  } catch (const c10::Error& e) {
    return Status::resource_exhausted(std::string("KV cache: ") + e.what_without_backtrace());
  }
  return Status::ok_status();
}

StatusOr<at::Tensor> Engine::Impl::forward_last(Lease& lease, const std::vector<int64_t>& tokens,
                                                const std::vector<int64_t>& positions) const {
  if (lease.workspace) return lease.workspace->forward(*lease.cache, tokens, positions);
  return model->forward_last(tokens, positions, *lease.cache);
}

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kEos: return "eos";
    case StopReason::kMaxTokens: return "max_tokens";
    case StopReason::kCallback: return "callback";
  }
  return "unknown";
}

double GenerationTimings::decode_tokens_per_s() const {
  return decode_ms > 0 ? (generated_tokens - 1) * 1000.0 / decode_ms : 0.0;
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

StatusOr<std::unique_ptr<Engine>> Engine::open(const std::string& model_dir,
                                               const EngineOptions& options) {
  PCACHE_ASSIGN_OR_RETURN(at::Device device, parse_device(options.device));
  at::ScalarType dtype = device.is_cuda() ? at::kBFloat16 : at::kFloat;
  if (options.dtype != "auto") {
    PCACHE_ASSIGN_OR_RETURN(dtype, parse_dtype(options.dtype));
  }
  pml::EncodingMode mode;
  if (options.default_encoding == "scaffold") {
    mode = pml::EncodingMode::kScaffold;
  } else if (options.default_encoding == "independent") {
    mode = pml::EncodingMode::kIndependent;
  } else {
    return Status::invalid_argument("encoding mode \"" + options.default_encoding +
                                    "\" (expected scaffold or independent)");
  }
  if (options.device_cache_bytes < 0 || options.host_cache_bytes < 0 ||
      options.max_pinned_share < 0 || options.max_pinned_share > 1) {
    return Status::invalid_argument("cache budgets must be >= 0 and max_pinned_share in [0, 1]");
  }
  // Options are checked before the weights are read: a bad one costs nothing.
  if (options.workspace_bytes < 0) {
    return Status::invalid_argument("workspace_bytes must be >= 0, got " +
                                    std::to_string(options.workspace_bytes));
  }
  if (options.max_states < 1) {
    return Status::invalid_argument("max_states must be >= 1, got " +
                                    std::to_string(options.max_states));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.random_weights) {
    PCACHE_ASSIGN_OR_RETURN(impl->checkpoint, Checkpoint::random(model_dir, /*seed=*/0));
  } else {
    PCACHE_ASSIGN_OR_RETURN(impl->checkpoint, Checkpoint::open(model_dir));
  }
  const std::string tokenizer_path =
      options.tokenizer.empty() ? impl->checkpoint->tokenizer_path() : options.tokenizer;
  if (!options.tokenizer.empty() && !std::filesystem::exists(tokenizer_path)) {
    return Status::not_found(tokenizer_path + ": no such tokenizer file");
  }
  if (std::filesystem::exists(tokenizer_path)) {
    PCACHE_ASSIGN_OR_RETURN(impl->tokenizer, Tokenizer::load(tokenizer_path));
    if (options.random_weights) impl->checkpoint->widen_vocab(impl->tokenizer->vocab_size());
  }
  PCACHE_ASSIGN_OR_RETURN(impl->model, LlamaModel::load(*impl->checkpoint, dtype, device));
  if (impl->tokenizer) {
    if (impl->tokenizer->vocab_size() > impl->model->config().vocab_size) {
      return Status::invalid_argument(
          tokenizer_path + ": vocabulary of " + std::to_string(impl->tokenizer->vocab_size()) +
          " pieces is larger than the model's " + std::to_string(impl->model->config().vocab_size));
    }
    impl->chat_template = impl->tokenizer->default_chat_template();
  }
  if (options.chat_template != "auto") {
    PCACHE_ASSIGN_OR_RETURN(impl->chat_template, parse_chat_template(options.chat_template));
  }
  ModuleStoreOptions store;
  store.device = device;
  store.device_budget_bytes = options.device_cache_bytes;
  store.host_budget_bytes = options.host_cache_bytes;
  store.disk_dir = options.cache_dir;
  store.max_pinned_share = options.max_pinned_share;
  store.int8_tiers = options.int8_tiers;
  if (!options.cache_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.cache_dir, ec);
    if (ec)
      return Status::io_error(options.cache_dir +
                              ": cannot create the cache directory: " + ec.message());
  }
  impl->store = std::make_unique<ModuleStore>(store);
  auto pool = std::make_unique<WorkspacePool>(*impl->model, options.workspace_bytes);
  if (pool->graphs()) impl->workspaces = std::move(pool);
  impl->states = std::make_unique<StateTable>(options.max_states);
  if (impl->tokenizer) {
    impl->prompts =
        std::make_unique<PromptCache>(*impl->model, *impl->tokenizer, impl->chat_template,
                                      impl->checkpoint->fingerprint(), *impl->store, mode);
  }
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

std::string Engine::describe() const {
  return impl_->model->config().summary() + " on " + impl_->model->device().str() + ", " +
         dtype_name(impl_->model->dtype());
}

StatusOr<const Tokenizer*> Engine::tokenizer() const {
  if (!impl_->tokenizer) {
    return Status::failed_precondition(impl_->checkpoint->tokenizer_path() +
                                       " does not exist: text needs a tokenizer");
  }
  return impl_->tokenizer.get();
}

ChatTemplate Engine::chat_template() const { return impl_->chat_template; }

StatusOr<Generation> Engine::generate(const std::string& prompt, const SamplingOptions& options,
                                      const TextCallback& on_text) const {
  PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, tokenizer());
  std::vector<int> ids = {tok->bos_id()};
  std::vector<int> text = tok->encode(prompt);
  ids.insert(ids.end(), text.begin(), text.end());
  return generate_tokens(ids, options, on_text);
}

StatusOr<Generation> Engine::generate_chat(const std::vector<ChatMessage>& messages,
                                           const SamplingOptions& options,
                                           const TextCallback& on_text) const {
  PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, tokenizer());
  PCACHE_ASSIGN_OR_RETURN(
      std::vector<int> ids,
      tok->apply_chat_template(messages, impl_->chat_template, /*add_generation_prompt=*/true));
  return generate_tokens(ids, options, on_text);
}

StatusOr<Generation> Engine::generate_tokens(const std::vector<int>& prompt,
                                             const SamplingOptions& options,
                                             const TextCallback& on_text) const {
  PCACHE_RETURN_IF_ERROR(options.validate());
  if (prompt.empty()) return Status::invalid_argument("generate: the prompt has no tokens");
  PCACHE_RETURN_IF_ERROR(impl_->check_tokens(prompt, "generate: prompt"));
  const int64_t n = static_cast<int64_t>(prompt.size());
  PCACHE_RETURN_IF_ERROR(check_context(impl_->model->config(), "generate", n, options.max_tokens));
  Generation gen;
  gen.timings.prompt_tokens = static_cast<int>(n);
  const auto start = Clock::now();
  Impl::Lease lease;
  PCACHE_RETURN_IF_ERROR(impl_->open_cache(n + options.max_tokens, lease));
  KVCache& cache = *lease.cache;
  int64_t reused = 0;
  if (impl_->options.prefix_cache) {
    PCACHE_ASSIGN_OR_RETURN(reused, impl_->reuse_prefix(prompt, cache));
  }
  gen.timings.cached_tokens = static_cast<int>(reused);
  gen.timings.assembly_ms = ms_since(start);
  gen.steps.push_back(
      {reused > 0 ? "load_state" : "reset", gen.timings.assembly_ms, static_cast<int>(reused)});

  const auto prefill_start = Clock::now();
  std::vector<int64_t> rest(prompt.begin() + reused, prompt.end()), positions(rest.size());
  for (size_t i = 0; i < rest.size(); ++i) positions[i] = reused + static_cast<int64_t>(i);
  PCACHE_ASSIGN_OR_RETURN(at::Tensor logits, impl_->forward_last(lease, rest, positions));
  gen.timings.prefill_ms = ms_since(prefill_start);
  gen.steps.push_back(
      {reused > 0 ? "eval_prompt" : "eval", gen.timings.prefill_ms, static_cast<int>(n - reused)});
  if (impl_->options.prefix_cache && reused < n - 1) {
    const auto save_start = Clock::now();
    impl_->remember_prefix(prompt, cache);
    gen.steps.push_back({"save_state", ms_since(save_start), 0});
  }
  PCACHE_RETURN_IF_ERROR(
      impl_->decode(lease, logits, n, options, std::nullopt, on_text, start, gen).status());
  return gen;
}

namespace {

pml::SourceFiles::Access src_access(const EngineOptions& options) {
  return options.allow_src_outside ? pml::SourceFiles::Access::kAnywhere
                                   : pml::SourceFiles::Access::kBelowBase;
}

}  // namespace

StatusOr<std::string> Engine::add_schema_file(const std::string& path) {
  PCACHE_ASSIGN_OR_RETURN(pml::Schema schema, pml::load_schema(path, src_access(impl_->options)));
  if (!impl_->prompts) return tokenizer().status();
  return impl_->prompts->add_schema(schema);
}

StatusOr<std::string> Engine::add_schema(const std::string& text, const std::string& file_name) {
  PCACHE_ASSIGN_OR_RETURN(pml::Schema schema,
                          pml::parse_schema(text, file_name, {"", src_access(impl_->options)}));
  if (!impl_->prompts) return tokenizer().status();
  return impl_->prompts->add_schema(schema);
}

StatusOr<std::vector<ModuleReport>> Engine::compile(const std::string& schema_name) {
  if (!impl_->prompts) return tokenizer().status();
  return impl_->prompts->compile(schema_name);
}

StatusOr<Generation> Engine::run_file(const std::string& prompt_path, const RunOptions& options,
                                      const TextCallback& on_text) {
  PCACHE_ASSIGN_OR_RETURN(std::string text, pml::read_source_file(prompt_path));
  return run(text, options, on_text, prompt_path);
}

StatusOr<Generation> Engine::run(const std::string& prompt_text, const RunOptions& options,
                                 const TextCallback& on_text, const std::string& file_name) {
  PCACHE_RETURN_IF_ERROR(options.sampling.validate());
  if (!impl_->prompts) return tokenizer().status();
  PCACHE_ASSIGN_OR_RETURN(pml::Prompt prompt, pml::parse_prompt(prompt_text, file_name));
  Generation gen;
  const auto start = Clock::now();
  Impl::Lease lease;
  auto open_cache = [&](int64_t capacity) -> StatusOr<KVCache> {
    PCACHE_RETURN_IF_ERROR(impl_->open_cache(capacity, lease));
    KVCache c = std::move(*lease.cache);
    lease.cache.reset();
    return c;
  };
  std::vector<int64_t> tokens, positions;
  int64_t next_position = 0;
  const int64_t room = options.sampling.max_tokens;
  if (options.use_cache) {
    PCACHE_ASSIGN_OR_RETURN(
        AssembledPrompt assembled,
        impl_->prompts->assemble(prompt, options.read_only, false, room, open_cache));
    lease.cache.emplace(std::move(assembled.cache));
    tokens = std::move(assembled.tokens);
    positions = std::move(assembled.positions);
    next_position = assembled.next_position;
    gen.timings.cached_tokens = static_cast<int>(assembled.cached_tokens);
    gen.timings.modules_reused = assembled.modules_reused;
    gen.timings.modules_encoded = assembled.modules_encoded;
  } else {
    PCACHE_ASSIGN_OR_RETURN(auto flat, impl_->prompts->flatten(prompt));
    tokens = std::move(flat.tokens);
    positions = std::move(flat.positions);
    next_position = flat.next_position;
    PCACHE_RETURN_IF_ERROR(check_context(impl_->model->config(), prompt.location.to_string(),
                                         next_position, room));
    PCACHE_ASSIGN_OR_RETURN(KVCache empty, open_cache(static_cast<int64_t>(tokens.size()) + room));
    lease.cache.emplace(std::move(empty));
  }
  gen.timings.prompt_tokens = gen.timings.cached_tokens + static_cast<int>(tokens.size());
  gen.timings.assembly_ms = ms_since(start);
  gen.steps.push_back({options.use_cache ? "load_state" : "reset", gen.timings.assembly_ms,
                       gen.timings.cached_tokens});

  const auto prefill_start = Clock::now();
  PCACHE_ASSIGN_OR_RETURN(at::Tensor logits, impl_->forward_last(lease, tokens, positions));
  gen.timings.prefill_ms = ms_since(prefill_start);
  gen.steps.push_back({options.use_cache ? "eval_prompt" : "eval", gen.timings.prefill_ms,
                       static_cast<int>(tokens.size())});
  PCACHE_RETURN_IF_ERROR(
      impl_->decode(lease, logits, next_position, options.sampling, std::nullopt, on_text,
                    start, gen).status());
  return gen;
}

Status Engine::pin(const std::string& schema_name, const std::string& module) {
  return impl_->store->pin(schema_name, module);
}

CacheStats Engine::cache_stats() const { return impl_->store->stats(); }

std::string Engine::device() const { return impl_->model->device().str(); }

std::string Engine::device_name() const {
#if defined(PCACHE_HAVE_CUDA)
  const at::Device d = impl_->model->device();
  if (d.is_cuda()) return at::cuda::getDeviceProperties(d.index() < 0 ? 0 : d.index())->name;
#endif
  return "cpu";
}

std::string Engine::build_info() const {
  std::string info = "libtorch " TORCH_VERSION;
#if defined(PCACHE_HAVE_CUDA) && defined(CUDA_VERSION)
  info += ", CUDA " + std::to_string(CUDA_VERSION / 1000) + "." +
          std::to_string(CUDA_VERSION % 1000 / 10);
#endif
  return info;
}

DeviceMemory Engine::device_memory() const {
  DeviceMemory m;
#if defined(PCACHE_HAVE_CUDA)
  const at::Device d = impl_->model->device();
  if (d.is_cuda()) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(d.index() < 0 ? 0 : d.index());
    const size_t all = 0;  // StatType::AGGREGATE (its namespace moved between libtorch versions)
    m.allocated = stats.allocated_bytes[all].current;
    m.peak_allocated = stats.allocated_bytes[all].peak;
    m.reserved = stats.reserved_bytes[all].current;
  }
#endif
  return m;
}

void Engine::reset_peak_device_memory() const {
#if defined(PCACHE_HAVE_CUDA)
  const at::Device d = impl_->model->device();
  if (d.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(d.index() < 0 ? 0 : d.index());
#endif
}

void Engine::synchronize() const {
#if defined(PCACHE_HAVE_CUDA)
  if (impl_->model->device().is_cuda()) c10::cuda::device_synchronize();
#endif
}

StatusOr<ReferenceReport> Engine::verify(const std::string& reference_dir) const {
  return check_reference(*impl_->model, reference_dir);
}

}  // namespace pcache
