#include "pcache/engine.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>

#include "model/checkpoint.h"
#include "model/llama.h"
#include "model/reference_check.h"
#include "runtime/sampler.h"

namespace pcache {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

const char* dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    default: return "other";
  }
}

}  // namespace

struct Engine::Impl {
  std::unique_ptr<Checkpoint> checkpoint;
  std::unique_ptr<LlamaModel> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the folder has none
  ChatTemplate chat_template = ChatTemplate::kMistral;
};

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
  auto impl = std::make_unique<Impl>();
  PCACHE_ASSIGN_OR_RETURN(impl->checkpoint, Checkpoint::open(model_dir));
  PCACHE_ASSIGN_OR_RETURN(impl->model, LlamaModel::load(*impl->checkpoint, dtype, device));
  if (std::filesystem::exists(impl->checkpoint->tokenizer_path())) {
    PCACHE_ASSIGN_OR_RETURN(impl->tokenizer, Tokenizer::load(impl->checkpoint->tokenizer_path()));
    if (impl->tokenizer->vocab_size() > impl->model->config().vocab_size) {
      return Status::invalid_argument(impl->checkpoint->tokenizer_path() + ": vocabulary of " +
                                      std::to_string(impl->tokenizer->vocab_size()) +
                                      " pieces is larger than the model's " +
                                      std::to_string(impl->model->config().vocab_size));
    }
    impl->chat_template = impl->tokenizer->default_chat_template();
  }
  if (options.chat_template != "auto") {
    PCACHE_ASSIGN_OR_RETURN(impl->chat_template, parse_chat_template(options.chat_template));
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
  const LlamaModel& model = *impl_->model;
  const ModelConfig& config = model.config();
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= config.vocab_size) {
      return Status::invalid_argument("generate: prompt token " + std::to_string(i) + " has id " +
                                      std::to_string(prompt[i]) + ", outside the vocabulary [0, " +
                                      std::to_string(config.vocab_size) + ")");
    }
  }
  const int64_t n = static_cast<int64_t>(prompt.size());
  Generation gen;
  gen.timings.prompt_tokens = static_cast<int>(n);
  Sampler sampler(options);
  std::optional<TokenStreamDecoder> stream;
  if (impl_->tokenizer) stream.emplace(*impl_->tokenizer);
  auto is_eos = [&](int id) {
    return std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), id) !=
           config.eos_token_ids.end();
  };
  // Text pieces go to the callback as they come; false from it stops.
  auto emit = [&](const std::string& piece) {
    gen.text += piece;
    return piece.empty() || !on_text || on_text(piece);
  };

  KVCache cache = model.new_cache(1);
  std::vector<int64_t> ids64(prompt.begin(), prompt.end());
  ForwardOptions prefill;
  prefill.last_logits_only = true;
  auto start = Clock::now();
  PCACHE_ASSIGN_OR_RETURN(at::Tensor logits,
                          model.forward(at::tensor(ids64, at::kLong).unsqueeze(0),
                                        at::arange(n, at::kLong).unsqueeze(0), cache, prefill));
  int next = sampler.sample(logits[0][0]);
  gen.timings.prefill_ms = ms_since(start);

  auto decode_start = Clock::now();
  int64_t pos = n;
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
    PCACHE_ASSIGN_OR_RETURN(logits, model.forward(at::full({1, 1}, next, at::kLong),
                                                  at::full({1, 1}, pos++, at::kLong), cache));
    next = sampler.sample(logits[0][0]);
  }
  if (stream) emit(stream->flush());
  gen.timings.generated_tokens = static_cast<int>(gen.tokens.size());
  gen.timings.decode_ms = gen.tokens.size() > 1 ? ms_since(decode_start) : 0.0;
  return gen;
}

StatusOr<ReferenceReport> Engine::verify(const std::string& reference_dir) const {
  return check_reference(*impl_->model, reference_dir);
}

}  // namespace pcache
