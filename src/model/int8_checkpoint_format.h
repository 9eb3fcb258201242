// Constants of an int8 checkpoint (docs/formats.md, "int8 checkpoints"): a
// Hugging Face model folder whose model.safetensors holds each projection
// weight "X.weight" as I8 [out, in] with "X.weight" + kScaleSuffix, F32
// [out], beside it (w = values x scale, row by row), in the zero-point form
// also "X.weight" + kOffsetSuffix, F32 [out] (w = values x scale + offset),
// and every other tensor as the source checkpoint held it.
#pragma once

namespace pcache::int8_checkpoint_format {

inline constexpr const char* kScaleSuffix = "_scale";
inline constexpr const char* kOffsetSuffix = "_offset";
// __metadata__ entries: what the file is, and the source checkpoint's
// fingerprint (Checkpoint::fingerprint).
inline constexpr const char* kWeightsKey = "pcache.weights";
inline constexpr const char* kWeightsValue = "int8 per output row";
inline constexpr const char* kZeroPointWeightsValue = "int8 per output row, with zero points";
inline constexpr const char* kSourceKey = "pcache.source";

}  // namespace pcache::int8_checkpoint_format
