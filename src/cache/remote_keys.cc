#include "cache/remote_keys.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>

#include "cache/remote_format.h"
#include "util/percent_escape.h"

namespace pcache {

namespace {

// ':' separates the fields and '#' starts a chunk's suffix, so free text
// (tenants, names, fingerprints) escapes them, and '%'.
void append_escaped(std::string& out, const std::string& s) {
  append_percent_escaped(out, s, ":#");
}

std::string hex16(uint64_t x) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, x);
  return buf;
}

}  // namespace

std::string remote_module_key(const std::string& tenant, const std::string& model,
                              uint64_t content, const std::string& entry_key) {
  std::string out = remote_format::kModulePrefix;
  append_escaped(out, tenant);
  out += ':';
  append_escaped(out, model);
  out += ':' + hex16(content) + ':' + hex16(XXH64(entry_key.data(), entry_key.size(), 0));
  return out;
}

std::string remote_state_key(const std::string& tenant, const std::string& model,
                             const std::string& name) {
  std::string out = remote_format::kStatePrefix;
  append_escaped(out, tenant);
  out += ':';
  append_escaped(out, model);
  out += ':';
  append_escaped(out, name);
  return out;
}

}  // namespace pcache
