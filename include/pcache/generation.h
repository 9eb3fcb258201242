// What a request asks for and what it gives back: sampling options, run
// options of a PML prompt, the generated text with its stop reason and step
// timings, compiled modules' reports, and the streaming callback. Plain
// values; no libtorch types.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pcache/status.h"

namespace pcache {

struct SamplingOptions {
  int max_tokens = 128;     // generated tokens at most (>= 1)
  float temperature = 0.f;  // 0: greedy (argmax); otherwise softmax(logits / T)
  int top_k = 0;            // keep the k most likely tokens; 0: all
  float top_p = 1.f;        // keep the smallest set with this much mass; 1: all
  uint64_t seed = 0;        // same seed, same options, same prompt (or state): same tokens
  bool stop_at_eos = true;
  // The tenant whose cached prefixes the request may reuse and adds to:
  // requests reuse only prefixes (and states) of the same salt, so that one
  // tenant cannot time another's prompts (vLLM's cache_salt,
  // CVE-2025-46570). 0: the shared cache. Not a sampling choice, but it goes
  // with every generation call, as these options do.
  uint64_t cache_salt = 0;

  // InvalidArgument naming the option when one is out of range.
  Status validate() const;
};

enum class StopReason { kEos, kMaxTokens, kCallback };
const char* stop_reason_name(StopReason reason);

struct GenerationTimings {
  int prompt_tokens = 0;      // all of the prompt: reused from the cache + computed
  int cached_tokens = 0;      // reused (modules or a shared prefix)
  int modules_reused = 0;     // PML prompts: modules taken from the store
  int modules_encoded = 0;    // PML prompts: modules encoded for this request
  double assembly_ms = 0;     // finding and gathering cached states (encoding missing modules included)
  double queued_ms = 0;       // from handing the request to the scheduler to its first step
  double prefill_ms = 0;      // forward of the computed prompt tokens
  double first_token_ms = 0;  // from the call to the first token: tokenizing, assembly, prefill, sampling
  double first_text_ms = 0;   // from the call to the first text out (a token may decode to none yet)
  int generated_tokens = 0;   // including the first
  double decode_ms = 0;       // every token after the first
  double decode_tokens_per_s() const;
};

// One step of a request, as seed 001's table shows it: reset, eval (prefill
// of a prompt), save_state, load_state, eval_prompt (prefill of new text on a
// saved state), sample (decoding: the tokens after the first,
// over their time).
struct StepTiming {
  std::string step;
  double ms = 0;
  int tokens = 0;  // 0 where tokens do not apply
};

struct Generation {
  std::vector<StepTiming> steps;
  std::string text;
  std::vector<int> tokens;  // generated ids, without the eos that stopped them
  StopReason stop_reason = StopReason::kMaxTokens;
  GenerationTimings timings;
  // PML prompts: the paths of the modules taken from the cache and of those
  // encoded for this request ("" is the schema's own text), in prompt order
  // (as many as timings.modules_reused and timings.modules_encoded).
  std::vector<std::string> reused_modules, encoded_modules;
};

// How a PML prompt's modules are encoded (docs/pml.md, "Encoding modes"):
// as the schema says (its mode, else the engine's default), or in a mode
// chosen for one run. Each mode's states are cached apart.
enum class ModuleEncoding { kSchema, kIndependent, kScaffold };

// Options of a PML prompt run. sampling.cache_salt also picks whose schemas
// the prompt may name: the tenant's own (Engine::add_schema), then the shared ones.
struct RunOptions {
  SamplingOptions sampling;
  ModuleEncoding encoding = ModuleEncoding::kSchema;
  bool use_cache = true;   // false: the baseline, one plain prefill of the same tokens and positions
  bool read_only = false;  // use cached states, store nothing new
};

// One module as compiled: what it holds and what it cost.
struct ModuleReport {
  std::string module;       // path in the schema ("" is the schema's own text)
  int tokens = 0;
  int64_t first_position = 0, end_position = 0;  // [first, end)
  int64_t bytes = 0;        // K and V of all layers
  double encode_ms = 0;     // 0 when it was already cached
  bool was_cached = false;
};

// compile()'s progress: called before each module is fetched or encoded,
// with its path ("" is the schema's own text), its tokens, its index among
// the `count` modules compiled (from 0).
using ModuleProgress =
    std::function<void(const std::string& module, int tokens, int index, int count)>;

// Receives each piece of text as soon as it decodes to whole characters.
// Returning false stops generation after that piece.
using TextCallback = std::function<bool(const std::string& piece)>;

}  // namespace pcache
