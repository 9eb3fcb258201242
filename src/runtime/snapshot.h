// Snapshot files: one saved state (tokens, positions, K/V per layer, last
// logits, where what follows goes, the sampler's state) written to disk and
// read back in another process. Format: docs/formats.md, "Snapshot files";
// constants in snapshot_format.h. Only the file: making a state of it (and
// checking it against a model) is the engine's.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/int8_quant.h"
#include "pcache/status.h"
#include "runtime/sampler.h"

namespace pcache {

struct Snapshot {
  std::string model_fingerprint;   // 16 hex digits (Checkpoint::fingerprint)
  std::vector<int> tokens;         // [T]
  std::vector<int64_t> positions;  // [T]
  std::vector<at::Tensor> k, v;    // per layer [Hkv, T, D], one dtype (f32 / bf16 / f16)
  at::Tensor last_logits;          // [V] float32: the logits after the last token
  // Chat: a system prompt opened a turn that the first user line continues.
  bool open_system_turn = false;
  // Where what follows goes when not right after the last entry (a PML
  // prompt's new text goes after the whole schema); -1: right after it.
  int64_t resume_position = -1;
  // The sampler after the answer that made the state (a chat turn); none for
  // a prompt, and for version-1 files (whose sampler text is not read).
  std::optional<SamplerState> sampler;
};

enum class SnapshotCompression {
  kNone,
  kInt8,  // K and V quantized per channel to int8 (CacheGen-style), see docs/formats.md
};

// Writes to `path` through a temporary file in the same folder and a rename,
// so a crash never leaves a half file under the real name; first removes the
// temporary files that killed saves of `path` left (remove_stale_temp_files).
// Writes the current version. Errors: InvalidArgument (inconsistent shapes,
// a resume position below -1), IoError.
Status write_snapshot(const std::string& path, const Snapshot& snapshot,
                      SnapshotCompression compression = SnapshotCompression::kNone);

// Reads and checks a snapshot of the current version or of version 1 (magic,
// version, checksum, shapes, flags) and puts its tensors on `device` in
// `dtype` (dequantizing int8). Errors: NotFound, Corruption (truncated or
// damaged: the message says which check failed), Unsupported (another
// version), FailedPrecondition (made with another model: `expected_fingerprint`
// differs; both named). Nothing is partly loaded.
StatusOr<Snapshot> read_snapshot(const std::string& path, const std::string& expected_fingerprint,
                                 at::Device device, at::ScalarType dtype);

// The same two as bytes in memory (a snapshot file's exact content), for the
// remote tier: `label` names the value in errors (as the path does above).
// encode_snapshot's errors: InvalidArgument as write_snapshot's; decode_snapshot's
// as read_snapshot's, but for NotFound.
StatusOr<std::string> encode_snapshot(const Snapshot& snapshot, SnapshotCompression compression,
                                      const std::string& label);
StatusOr<Snapshot> decode_snapshot(std::string_view bytes, const std::string& label,
                                   const std::string& expected_fingerprint, at::Device device,
                                   at::ScalarType dtype);

// quantize_int8 / dequantize_int8 and QuantizedTensor (per-channel int8 of
// [H, T, D]) live in cache/int8_quant.h, included above.

}  // namespace pcache
