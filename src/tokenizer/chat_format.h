// The pieces of the Llama 3 and ChatML chat formats that both a whole
// conversation (Tokenizer::apply_chat_template) and one turn at a time
// (ChatTurns) are made of.
#pragma once

#include <optional>
#include <string>

#include "pcache/status.h"
#include "pcache/tokenizer.h"

namespace pcache::tokenizer_internal {

// Python's str.strip() (Jinja's trim filter, Meta's reference code): Unicode
// whitespace as str.isspace() has it.
std::string strip(const std::string& s);

// The id of a special token the format needs; InvalidArgument naming the
// family and the token when the tokenizer lacks it.
StatusOr<int> special_token(const Tokenizer& tokenizer, const char* piece, const char* family);

// ChatML's default system prompt, as Qwen's templates write it
// ('<|im_start|>system\nYou are ...<|im_end|>\n' when the first message is not
// a system message); nullopt when the template has none.
std::optional<std::string> chatml_default_system(const std::string& jinja);

// Llama 3.1 and later open every conversation with a system header holding
// the knowledge cutoff and a date before the system message: "Cutting
// Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n", the date being
// the template's date_string default (3.1), else today's in local time (3.2's
// strftime_now("%d %b %Y"), as transformers renders it). nullopt for templates without it (3.0).
std::optional<std::string> llama3_system_preamble(const std::string& jinja);

}  // namespace pcache::tokenizer_internal
