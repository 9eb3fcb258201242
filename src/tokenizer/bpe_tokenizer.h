// The byte-level BPE tokenizer of a Hugging Face tokenizer.json (GPT-2,
// Llama 3, Qwen 2), with the checkpoint's tokenizer_config.json and
// chat_template.jinja beside it. Encoding equals tokenizers' own: invalid
// UTF-8 replaced as from_utf8_lossy does, added tokens cut out (non-special
// ones always; special ones only when asked), the normalizer, the
// pre-tokenizer (Split on a regex, ByteLevel), the BPE model; decoding is the
// ByteLevel decoder's. The subset of tokenizer.json read is in docs/formats.md
// ("tokenizer.json"); anything else is an Unsupported error naming it.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "pcache/status.h"
#include "tokenizer/tokenizer_impl.h"

namespace pcache::tokenizer_internal {

// Besides tokenizer.json (kMaxTokenizerFileBytes): the files beside it, and
// the ids a vocabulary may use (Llama 3 has 128256, Qwen 2.5 151665).
inline constexpr size_t kMaxTokenizerConfigBytes = 16u << 20;
inline constexpr size_t kMaxChatTemplateBytes = 1u << 20;
inline constexpr int kMaxTokenId = (1 << 22) - 1;

// `path`: a tokenizer.json. Errors: NotFound / IoError (the file),
// InvalidArgument (too large), Corruption (not JSON, or keys missing or of the
// wrong type, named with the file), Unsupported (a component of another kind).
StatusOr<std::unique_ptr<Tokenizer::Impl>> load_bpe_tokenizer(const std::string& path);

}  // namespace pcache::tokenizer_internal
