// Percent-escaping of free text inside keys whose fields some characters
// separate: the module store's entry keys ('/'), the remote tier's keys
// (':' and '#'). One escape, so that every key is unambiguous the same way.
#pragma once

#include <string>
#include <string_view>

namespace pcache {

// Appends `text` to `out` with '%' and every character of `reserved` written
// as "%XX" (two upper-case hex digits), the rest as it is. Distinct texts
// give distinct results, and none holds a character of `reserved`.
// append_percent_escaped(out, "a:b%", ":") appends "a%3Ab%25".
void append_percent_escaped(std::string& out, std::string_view text, std::string_view reserved);

}  // namespace pcache
