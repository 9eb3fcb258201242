// Reference check: runs the cases of a reference.safetensors (inputs and
// logits written by Hugging Face transformers) through a LlamaModel and
// compares logits. Layout: ../shared/fixtures/README.md and docs/formats.md.
#pragma once

#include <string>
#include <vector>

#include "model/llama.h"
#include "pcache/reference_report.h"
#include "pcache/status.h"

namespace pcache {

// Runs every case listed by `dir`/reference.json (a case "a+b" runs a, then b
// on a's KV cache) or, without that file, every `<case>.input_ids` alone.
// For a checkpoint stored in half precision the cases also run with the RoPE
// frequencies rounded to that dtype (see ForwardOptions::rope_freq_dtype), and
// the convention that fits the reference better is reported.
// Errors: NotFound / Corruption (reference files, naming the tensor),
// InvalidArgument (a case whose shapes do not fit), forward's errors.
StatusOr<ReferenceReport> check_reference(const LlamaModel& model, const std::string& dir);

}  // namespace pcache
