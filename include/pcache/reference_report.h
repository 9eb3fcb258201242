// ReferenceReport: how a model's logits compare with those a reference
// implementation stored (DIR/reference.safetensors, docs/formats.md), as
// Engine::verify and the model layer's check_reference give it. Plain values;
// no libtorch types.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pcache {

struct ReferenceCase {
  std::string name;
  int64_t tokens = 0;
  double max_abs_error = 0;
  double top1_agreement = 0;
};

struct ReferenceReport {
  std::vector<ReferenceCase> cases;
  // How the reference computed RoPE frequencies, as found by matching it:
  // "float32" (transformers' from_pretrained), or "rounded to bfloat16" /
  // "rounded to float16" (a model cast in memory with .to(dtype)).
  std::string rope_frequencies = "float32";
};

}  // namespace pcache
