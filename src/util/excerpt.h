// Quoting outside input in error messages: at most a short, escaped piece of
// it, so that a message never carries megabytes of input or raw binary.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pcache {

// `text` in double quotes, with control bytes, '"', '\\' and bytes >= 0x7f
// written as C escapes (\n, \x1b), cut after `max_bytes` input bytes and then
// followed by "... (N bytes)". excerpt("ab\n") == "\"ab\\n\"".
std::string excerpt(std::string_view text, size_t max_bytes = 48);

}  // namespace pcache
