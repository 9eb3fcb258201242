// EngineOptions: how Engine::open loads a model and sizes its caches; and
// DeviceMemory, the device allocator's view that Engine::device_memory reports.
// Plain values; no libtorch types.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pcache {

struct EngineOptions {
  std::string device = "cpu";          // "cpu", "cuda" or "cuda:N"
  std::string dtype = "auto";          // "auto" (float32 on CPU, bfloat16 on CUDA),
                                       // "float32", "bfloat16" or "float16"
  std::string chat_template = "auto";  // "auto" (the checkpoint's), "llama3", "chatml", "mistral" or "llama2"
  // How the projection weights are held: "dtype" (as the model computes),
  // "int8" (weight-only, a scale per output row, quantized as the model
  // loads: half the bytes a bfloat16 decode step reads; a tied head stays in
  // the model dtype) or "int8-zp" (the same with a zero point per row). A
  // checkpoint stored as int8 (`pcache quantize`) keeps its own form.
  // docs/architecture.md, "Weights".
  std::string weights = "dtype";

  // Module store (docs/architecture.md): device tier budget, host tier
  // budget (GPU only), and a cache directory for the disk tier ("" = none).
  int64_t device_cache_bytes = 2ll << 30;
  int64_t host_cache_bytes = 8ll << 30;
  std::string cache_dir;
  double max_pinned_share = 0.5;
  // Keep K/V below the device tier (host memory, cache files) as per-channel
  // int8, dequantized when brought back to the device (ModuleStoreOptions::int8_tiers).
  bool int8_tiers = false;
  // Folders where run_file() and find_schema() look for the schema a prompt
  // file names (NAME.xml) when it is not registered, after the prompt's own
  // folder; relative to the working directory.
  std::vector<std::string> schema_path = {"schemas"};
  // Remote tier (docs/architecture.md, "Remote tier"): a Redis server that
  // replicas share, "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]"; "" = none.
  // Modules missing locally are read from it before being encoded, encoded
  // ones are written to it behind the request, and saved states can be put
  // there (Engine::save_remote, load_remote). When it fails, requests are
  // answered from the local tiers.
  std::string remote;
  std::string remote_password;              // when set, used instead of the URL's
  std::string remote_key_prefix = "pcache:";  // before every key, to share a Redis
  int64_t remote_ttl_seconds = 0;           // expiry of what is written; 0 = none
  int remote_timeout_ms = 500;              // for connecting and for every reply
  // Encoding mode of schemas that do not say: "scaffold" or "independent".
  std::string default_encoding = "scaffold";
  // Let <module src="..."> read any file: absolute paths and paths that leave
  // the schema's folder. Off by default, so that a schema cannot read files
  // outside its own folder (docs/pml.md, "Files").
  bool allow_src_outside = false;
  // Reuse the states of earlier plain prompts that share a prefix.
  bool prefix_cache = true;
  // Saved states (cache_prompt, chat_completion, load) kept at once; the
  // least recently used is released beyond this.
  int max_states = 8;
  // ... and at most this many bytes of K/V held by all live states together
  // (shared blocks counted once), least recently used evicted beyond it.
  // 0: half of the KV block pool, so that states never starve requests.
  int64_t max_state_bytes = 0;

  // Serving core (docs/architecture.md, "Serving core"). Bytes of the KV
  // block pool that holds every request's, module's, prefix's and state's
  // K/V (0: half of the free GPU memory after the weights; 2 GiB of address
  // space on the CPU). New tokens in one forward at most (prefill chunks
  // and decode tokens of all running requests together); the same while a
  // request runs alone (none other running or waiting: its steps hold up no
  // one, so a long prompt goes in fewer, larger ones, which cost less; the
  // bound is on the activations' memory; 0: 16384 where the paged attention
  // kernels run, a GPU in bfloat16 or float16 (or max_batch_tokens if
  // larger), max_batch_tokens elsewhere, where attention holds a score per
  // new token and entry); running requests at most, more wait.
  int64_t kv_pool_bytes = 0;
  int64_t max_batch_tokens = 4096;
  int64_t max_lone_batch_tokens = 0;
  int max_running = 256;

  // A tokenizer.model other than MODEL_DIR/tokenizer.model ("" = that one).
  std::string tokenizer;
  // Benchmarks at real shapes without the weights: MODEL_DIR may then be a
  // config.json file (or a folder holding one) and every weight is drawn at
  // random (seeded), which does not change the cost of a forward pass. The
  // vocabulary is widened to the tokenizer's when that is larger.
  bool random_weights = false;
};

// The device allocator's view, in bytes (all 0 on the CPU).
struct DeviceMemory {
  int64_t allocated = 0;       // held by live tensors now
  int64_t peak_allocated = 0;  // most held at once since the last reset
  int64_t reserved = 0;        // held by the caching allocator
};

}  // namespace pcache
