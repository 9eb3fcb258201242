#include "pcache/engine.h"
#include "pcache/version.h"

#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>

#include "cache/module_store.h"
#include "cache/tensor_status.h"
#include "model/checkpoint.h"
#include "model/llama.h"
#include "model/paged_attention.h"
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
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
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

// The KV block pool's size when the options leave it to the engine: on a
// GPU, half of the memory still free once the weights are loaded; on the
// CPU, 2 GiB of address space (pages are taken only as blocks are written).
int64_t default_pool_bytes(at::Device device) {
#if defined(PCACHE_HAVE_CUDA)
  if (device.is_cuda()) {
    size_t free = 0, total = 0;
    c10::cuda::CUDAGuard guard(device);
    if (cudaMemGetInfo(&free, &total) == cudaSuccess) return static_cast<int64_t>(free / 2);
  }
#else
  (void)device;
#endif
  return 2ll << 30;
}

}  // namespace

SequenceRequest Engine::Impl::plain_request(const std::vector<int>& ids, uint64_t salt,
                                            int64_t* reused) const {
  const int64_t n = static_cast<int64_t>(ids.size());
  SequenceRequest request(*pool);
  // The last token is always computed: its logits give what comes next.
  *reused = options.prefix_cache ? prefixes->reuse(ids, n - 1, request.context, salt) : 0;
  request.tokens.assign(ids.begin() + *reused, ids.end());
  for (int64_t i = *reused; i < n; ++i) request.positions.push_back(i);
  request.next_position = n;
  return request;
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

StatusOr<SequenceResult> Engine::Impl::execute(SequenceRequest request, const TextCallback& on_text,
                                               Clock::time_point start, const char* prefill_step,
                                               Generation& gen) const {
  const int computed = static_cast<int>(request.tokens.size());
  std::optional<TokenStreamDecoder> stream;
  if (tokenizer) stream.emplace(*tokenizer);
  // Runs on the scheduler's thread while this one waits for the result.
  request.on_token = [&](int id) {
    if (!stream) return true;
    const std::string piece = stream->push(id);
    if (piece.empty()) return true;
    if (gen.text.empty()) gen.timings.first_text_ms = ms_since(start);
    gen.text += piece;
    return !on_text || on_text(piece);
  };
  const double before = ms_since(start);
  PCACHE_ASSIGN_OR_RETURN(SequenceResult r, scheduler->run(std::move(request)));
  if (stream) {
    const std::string piece = stream->flush();
    if (!piece.empty() && gen.text.empty()) gen.timings.first_text_ms = ms_since(start);
    gen.text += piece;
    if (!piece.empty() && on_text) on_text(piece);
  }
  gen.tokens = r.tokens;
  gen.stop_reason = r.stop_reason;
  gen.timings.generated_tokens = static_cast<int>(r.tokens.size());
  gen.timings.first_token_ms = before + r.first_token_ms;
  gen.timings.queued_ms = r.queued_ms;
  gen.timings.prefill_ms = r.first_token_ms - r.queued_ms;
  gen.timings.decode_ms = r.decode_ms;
  gen.steps.push_back({prefill_step, gen.timings.prefill_ms, computed});
  // Decode: the tokens after the first, over their time (decode_tokens_per_s).
  gen.steps.push_back({"sample", r.decode_ms, std::max(0, gen.timings.generated_tokens - 1)});
  return r;
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
  return without_exceptions("open " + model_dir, [&] { return Impl::open(model_dir, options); });
}

StatusOr<std::unique_ptr<Engine>> Engine::Impl::open(const std::string& model_dir,
                                                     const EngineOptions& options) {
  PCACHE_ASSIGN_OR_RETURN(at::Device device, parse_device(options.device));
  at::ScalarType dtype = device.is_cuda() ? at::kBFloat16 : at::kFloat;
  if (options.dtype != "auto") {
    StatusOr<at::ScalarType> parsed = parse_dtype(options.dtype);
    if (!parsed.ok()) {
      return Status::invalid_argument("dtype \"" + options.dtype +
                                      "\" (expected auto, float32, bfloat16 or float16)");
    }
    dtype = *parsed;
  }
  // Checked here, not at the first matrix product deep in a forward.
  if (device.is_cpu() && dtype == at::kHalf) {
    return Status::unsupported(
        "dtype float16 on the CPU: libtorch has no float16 matrix products there; use float32 "
        "(auto) or bfloat16 on the CPU, float16 on a GPU");
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
  if (options.kv_pool_bytes < 0 || options.max_state_bytes < 0 || options.max_batch_tokens < 1 ||
      options.max_lone_batch_tokens < 0 || options.max_running < 1) {
    return Status::invalid_argument(
        "kv_pool_bytes, max_state_bytes and max_lone_batch_tokens must be >= 0 (0: automatic), "
        "max_batch_tokens and max_running >= 1; got " +
        std::to_string(options.kv_pool_bytes) + ", " + std::to_string(options.max_state_bytes) +
        ", " + std::to_string(options.max_batch_tokens) + ", " +
        std::to_string(options.max_lone_batch_tokens) + ", " + std::to_string(options.max_running));
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
      options.tokenizer.empty() ? Tokenizer::path_in(impl->checkpoint->dir()) : options.tokenizer;
  if (!options.tokenizer.empty() && !std::filesystem::exists(tokenizer_path)) {
    return Status::not_found(tokenizer_path + ": no such tokenizer file");
  }
  if (std::filesystem::exists(tokenizer_path)) {
    PCACHE_ASSIGN_OR_RETURN(impl->tokenizer, Tokenizer::load(tokenizer_path));
    if (options.random_weights) impl->checkpoint->widen_vocab(impl->tokenizer->vocab_size());
  }
  PCACHE_ASSIGN_OR_RETURN(WeightFormat weights, parse_weight_format(options.weights));
  PCACHE_ASSIGN_OR_RETURN(impl->model, LlamaModel::load(*impl->checkpoint, dtype, device, weights));
  impl->fingerprint = impl->checkpoint->fingerprint();
  if (impl->model->weights() != WeightFormat::kModelDtype) {
    impl->fingerprint += std::string("+") + weight_format_name(impl->model->weights());
  }
  if (impl->tokenizer) {
    if (impl->tokenizer->vocab_size() > impl->model->config().vocab_size) {
      return Status::invalid_argument(
          tokenizer_path + ": vocabulary of " + std::to_string(impl->tokenizer->vocab_size()) +
          " pieces is larger than the model's " + std::to_string(impl->model->config().vocab_size));
    }
  }
  if (options.chat_template != "auto") {
    PCACHE_ASSIGN_OR_RETURN(impl->chat_template, parse_chat_template(options.chat_template));
  } else if (impl->tokenizer) {
    // The checkpoint's own template; one pcache cannot follow is an error
    // here, naming the families --chat-template takes.
    PCACHE_ASSIGN_OR_RETURN(impl->chat_template, impl->tokenizer->default_chat_template());
  }
  if (impl->tokenizer) {
    // A template whose special tokens the vocabulary lacks fails here, not at
    // the first chat.
    PCACHE_RETURN_IF_ERROR(
        impl->tokenizer->apply_chat_template({{"user", "x"}}, impl->chat_template, true).status());
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
  if (!options.remote.empty()) {
    RemoteTierOptions remote;
    PCACHE_ASSIGN_OR_RETURN(remote.endpoint, parse_redis_url(options.remote));
    if (!options.remote_password.empty()) remote.endpoint.password = options.remote_password;
    remote.key_prefix = options.remote_key_prefix;
    remote.ttl_seconds = options.remote_ttl_seconds;
    remote.timeout_ms = options.remote_timeout_ms;
    PCACHE_ASSIGN_OR_RETURN(impl->remote, RemoteTier::create(std::move(remote)));
    store.remote = impl->remote;
  }
  impl->store = std::make_unique<ModuleStore>(store);
  if (impl->tokenizer) {
    impl->prompts =
        std::make_unique<PromptCache>(*impl->model, *impl->tokenizer, impl->chat_template,
                                      impl->fingerprint, *impl->store, mode);
  }
  const ModelConfig& config = impl->model->config();
  const int64_t block_bytes = BlockPool::block_bytes(config, dtype);
  const int64_t pool_bytes =
      options.kv_pool_bytes > 0 ? options.kv_pool_bytes : default_pool_bytes(device);
  if (pool_bytes / block_bytes < 1) {
    return Status::invalid_argument("kv_pool_bytes " + std::to_string(pool_bytes) +
                                    " holds no KV block of this model (" +
                                    std::to_string(block_bytes) + " bytes each)");
  }
  PCACHE_ASSIGN_OR_RETURN(impl->pool,
                          BlockPool::create(config, dtype, device, pool_bytes / block_bytes));
  impl->states = std::make_unique<StateTable>(
      options.max_states,
      options.max_state_bytes > 0 ? options.max_state_bytes : impl->pool->stats().bytes / 2);
  const std::string& fingerprint = impl->fingerprint;
  impl->prefixes = std::make_unique<PrefixCache>(
      *impl->pool, XXH64(fingerprint.data(), fingerprint.size(), 0));
  SchedulerOptions scheduling;
  scheduling.max_step_tokens = options.max_batch_tokens;
  // Without the paged kernels (the CPU, float32) attention materializes a
  // score per new token and entry, so a larger step costs memory in
  // proportion: no larger lone steps there.
  const bool paged_kernels =
      paged_attention_available(device, dtype, config.head_dim, config.num_heads / config.num_kv_heads);
  scheduling.max_lone_step_tokens =
      options.max_lone_batch_tokens > 0 ? options.max_lone_batch_tokens
                                        : paged_kernels ? std::max<int64_t>(16384, options.max_batch_tokens)
                                                        : options.max_batch_tokens;
  scheduling.max_running = options.max_running;
  impl->scheduler = std::make_unique<Scheduler>(*impl->model, *impl->pool, scheduling);
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

std::string Engine::describe() const {
  return impl_->model->config().summary() + " on " + impl_->model->device().str() + ", " +
         dtype_name(impl_->model->dtype()) +
         (impl_->model->weights() == WeightFormat::kInt8            ? ", int8 weights"
          : impl_->model->weights() == WeightFormat::kInt8ZeroPoint ? ", int8 weights with zero points"
                                                                    : "");
}

StatusOr<const Tokenizer*> Engine::tokenizer() const {
  if (!impl_->tokenizer) {
    return Status::failed_precondition(Tokenizer::path_in(impl_->checkpoint->dir()) +
                                       " does not exist: text needs a tokenizer");
  }
  return impl_->tokenizer.get();
}

ChatTemplate Engine::chat_template() const { return impl_->chat_template; }

StatusOr<Generation> Engine::generate(const std::string& prompt, const SamplingOptions& options,
                                      const TextCallback& on_text) const {
  const auto start = Clock::now();  // tokenizing counts: the times are from the call
  PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, tokenizer());
  std::vector<int> ids = tok->bos_ids();
  PCACHE_RETURN_IF_ERROR(check_text_fits(*tok, impl_->model->config(), "generate", prompt.size()));
  std::vector<int> text = tok->encode(prompt);
  ids.insert(ids.end(), text.begin(), text.end());
  return impl_->generate_since(ids, options, on_text, start);
}

StatusOr<Generation> Engine::generate_chat(const std::vector<ChatMessage>& messages,
                                           const SamplingOptions& options,
                                           const TextCallback& on_text) const {
  const auto start = Clock::now();  // tokenizing counts: the times are from the call
  PCACHE_ASSIGN_OR_RETURN(const Tokenizer* tok, tokenizer());
  PCACHE_RETURN_IF_ERROR(check_text_fits(*tok, impl_->model->config(), "generate_chat", messages));
  PCACHE_ASSIGN_OR_RETURN(
      std::vector<int> ids,
      tok->apply_chat_template(messages, impl_->chat_template, /*add_generation_prompt=*/true));
  return impl_->generate_since(ids, options, on_text, start);
}

StatusOr<Generation> Engine::generate_tokens(const std::vector<int>& prompt,
                                             const SamplingOptions& options,
                                             const TextCallback& on_text) const {
  return impl_->generate_since(prompt, options, on_text, Clock::now());
}

StatusOr<Generation> Engine::Impl::generate_since(const std::vector<int>& prompt,
                                                  const SamplingOptions& options,
                                                  const TextCallback& on_text,
                                                  Clock::time_point start) const {
  return without_exceptions("generate", [&]() -> StatusOr<Generation> {
    PCACHE_RETURN_IF_ERROR(options.validate());
    if (prompt.empty()) return Status::invalid_argument("generate: the prompt has no tokens");
    PCACHE_RETURN_IF_ERROR(check_tokens(prompt, "generate: prompt"));
    const int64_t n = static_cast<int64_t>(prompt.size());
    PCACHE_RETURN_IF_ERROR(check_context(model->config(), "generate", n, options.max_tokens));
    Generation gen;
    gen.timings.prompt_tokens = static_cast<int>(n);
    const auto assembling = Clock::now();
    int64_t reused = 0;
    SequenceRequest request = plain_request(prompt, options.cache_salt, &reused);
    gen.timings.cached_tokens = static_cast<int>(reused);
    gen.timings.assembly_ms = ms_since(assembling);
    gen.steps.push_back(
        {reused > 0 ? "load_state" : "reset", gen.timings.assembly_ms, static_cast<int>(reused)});
    request.sampling = options;
    PCACHE_ASSIGN_OR_RETURN(SequenceResult r, execute(std::move(request), on_text, start,
                                                      reused > 0 ? "eval_prompt" : "eval", gen));
    if (this->options.prefix_cache) prefixes->remember(*r.sequence, options.cache_salt);
    return gen;
  });
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

StatusOr<std::string> Engine::add_schema(const std::string& text, const std::string& file_name,
                                         uint64_t cache_salt) {
  PCACHE_ASSIGN_OR_RETURN(pml::Schema schema,
                          pml::parse_schema(text, file_name, {"", src_access(impl_->options)}));
  if (!impl_->prompts) return tokenizer().status();
  return impl_->prompts->add_schema(schema, tenant_of(cache_salt));
}

Status Engine::remove_schema(const std::string& schema_name, uint64_t cache_salt) {
  if (!impl_->prompts) return tokenizer().status();
  return impl_->prompts->remove_schema(schema_name, tenant_of(cache_salt));
}

StatusOr<std::vector<ModuleReport>> Engine::compile(const std::string& schema_name,
                                                    uint64_t cache_salt,
                                                    const ModuleProgress& on_module) {
  return without_exceptions("compile", [&]() -> StatusOr<std::vector<ModuleReport>> {
    if (!impl_->prompts) return tokenizer().status();
    return impl_->prompts->compile(schema_name, tenant_of(cache_salt), on_module);
  });
}

StatusOr<std::string> Engine::find_schema(const std::string& prompt_path) {
  return without_exceptions("find_schema", [&]() -> StatusOr<std::string> {
    if (!impl_->prompts) return tokenizer().status();
    PCACHE_ASSIGN_OR_RETURN(std::string text, pml::read_source_file(prompt_path));
    PCACHE_ASSIGN_OR_RETURN(pml::Prompt prompt, pml::parse_prompt(text, prompt_path));
    if (impl_->prompts->schema(prompt.schema).ok()) return prompt.schema;
    std::vector<std::filesystem::path> folders = {
        std::filesystem::path(prompt_path).parent_path()};
    for (const std::string& f : impl_->options.schema_path) folders.emplace_back(f);
    std::string looked;
    for (const std::filesystem::path& folder : folders) {
      const std::filesystem::path file = (folder.empty() ? "." : folder) / (prompt.schema + ".xml");
      std::error_code ec;
      if (std::filesystem::is_regular_file(file, ec)) return add_schema_file(file.string());
      looked += (looked.empty() ? "" : ", ") + file.string();
    }
    return Status::not_found(
        prompt.location.to_string() + ": schema '" + prompt.schema +
        "' is not loaded and no file of it was found (looked for " + looked +
        "); pass --schema FILE, or add its folder to schema_path in the configuration");
  });
}

StatusOr<Generation> Engine::run_file(const std::string& prompt_path, const RunOptions& options,
                                      const TextCallback& on_text) {
  PCACHE_RETURN_IF_ERROR(find_schema(prompt_path).status());
  PCACHE_ASSIGN_OR_RETURN(std::string text, pml::read_source_file(prompt_path));
  return run(text, options, on_text, prompt_path);
}

StatusOr<Generation> Engine::run(const std::string& prompt_text, const RunOptions& options,
                                 const TextCallback& on_text, const std::string& file_name) {
  return without_exceptions("run", [&]() -> StatusOr<Generation> {
    PCACHE_RETURN_IF_ERROR(options.sampling.validate());
    if (!impl_->prompts) return tokenizer().status();
    PCACHE_ASSIGN_OR_RETURN(pml::Prompt prompt, pml::parse_prompt(prompt_text, file_name));
    const PromptScope scope = prompt_scope(options.sampling.cache_salt, options.encoding);
    Generation gen;
    const auto start = Clock::now();
    SequenceRequest request(*impl_->pool);
    const int64_t room = options.sampling.max_tokens;
    if (options.use_cache) {
      PCACHE_ASSIGN_OR_RETURN(
          AssembledPrompt assembled,
          impl_->prompts->assemble(prompt, scope, *impl_->pool, options.read_only,
                                   /*allow_empty=*/false, room));
      request.context = std::move(assembled.sequence);
      request.tokens = std::move(assembled.tokens);
      request.positions = std::move(assembled.positions);
      request.next_position = assembled.next_position;
      gen.timings.cached_tokens = static_cast<int>(assembled.cached_tokens);
      gen.timings.modules_reused = assembled.modules_reused;
      gen.timings.modules_encoded = assembled.modules_encoded;
      gen.reused_modules = std::move(assembled.reused_modules);
      gen.encoded_modules = std::move(assembled.encoded_modules);
    } else {
      PCACHE_ASSIGN_OR_RETURN(auto flat, impl_->prompts->flatten(prompt, scope));
      PCACHE_RETURN_IF_ERROR(check_context(impl_->model->config(), prompt.location.to_string(),
                                           flat.next_position, room));
      request.tokens = std::move(flat.tokens);
      request.positions = std::move(flat.positions);
      request.next_position = flat.next_position;
    }
    request.sampling = options.sampling;
    gen.timings.prompt_tokens = gen.timings.cached_tokens + static_cast<int>(request.tokens.size());
    gen.timings.assembly_ms = ms_since(start);
    gen.steps.push_back({options.use_cache ? "load_state" : "reset", gen.timings.assembly_ms,
                         gen.timings.cached_tokens});
    PCACHE_RETURN_IF_ERROR(impl_
                               ->execute(std::move(request), on_text, start,
                                         options.use_cache ? "eval_prompt" : "eval", gen)
                               .status());
    return gen;
  });
}

Status Engine::pin(const std::string& schema_name, const std::string& module) {
  return without_exceptions("pin", [&]() -> Status {
    return impl_->store->pin(schema_name, module);
  });
}

CacheStats Engine::cache_stats() const {
  CacheStats stats = impl_->store->stats();
  if (impl_->remote) stats.remote_outages = impl_->remote->stats().outages;
  return stats;
}

void Engine::flush_remote_writes() const { impl_->store->flush_remote_writes(); }

ServingStats Engine::serving_stats() const {
  const BlockPoolStats p = impl_->pool->stats();
  const SchedulerStats s = impl_->scheduler->stats();
  ServingStats out;
  out.block_tokens = BlockPool::kBlockSize;
  out.block_bytes = p.bytes / p.num_blocks;
  out.blocks = p.num_blocks;
  out.blocks_in_use = p.in_use;
  out.blocks_cached = p.cached;
  out.peak_blocks_in_use = p.peak_in_use;
  out.block_hits = p.hits;
  out.block_evictions = p.evictions;
  out.steps = s.steps;
  out.running = s.running;
  out.waiting = s.waiting;
  out.max_batch = s.max_batch;
  out.preemptions = s.preemptions;
  out.step_ms = s.step_ms;
  out.forward_ms = s.forward_ms;
  out.graph_captures = s.graph_captures;
  out.overlapped_steps = s.overlapped_steps;
  return out;
}

void Engine::reset_peak_serving() const { impl_->pool->reset_peak(); }

std::string Engine::device() const { return impl_->model->device().str(); }

std::string Engine::device_name() const {
#if defined(PCACHE_HAVE_CUDA)
  const at::Device d = impl_->model->device();
  if (d.is_cuda()) return at::cuda::getDeviceProperties(d.index() < 0 ? 0 : d.index())->name;
#endif
  return "cpu";
}

std::string Engine::build_info() const { return pcache::build_info(); }

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
  return without_exceptions("verify", [&]() -> StatusOr<ReferenceReport> {
    return check_reference(*impl_->model, reference_dir);
  });
}

}  // namespace pcache
