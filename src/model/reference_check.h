// Reference check: runs the cases of a reference.safetensors (inputs and
// logits written by Hugging Face transformers) through a LlamaModel and
// compares logits. Layout: ../shared/fixtures/README.md and docs/formats.md.
#pragma once

#include <string>
#include <vector>

#include "model/llama.h"
#include "pcache/engine.h"  // ReferenceCase
#include "pcache/status.h"

namespace pcache {

// Runs every case listed by `dir`/reference.json (a case "a+b" runs a, then b
// on a's KV cache) or, without that file, every `<case>.input_ids` alone.
// Errors: NotFound / Corruption (reference files, naming the tensor),
// InvalidArgument (a case whose shapes do not fit), forward's errors.
StatusOr<std::vector<ReferenceCase>> check_reference(const LlamaModel& model,
                                                           const std::string& dir);

}  // namespace pcache
