// The keys under which the module store and saved states keep values in the
// remote tier, below its key prefix (docs/formats.md, "Remote tier"). Each
// holds the tenant and the model fingerprint, so that tenants and models
// never share a value; a module's holds its content hash too, so that one
// module is stored once for every replica. No libtorch here.
#pragma once

#include <cstdint>
#include <string>

namespace pcache {

// "mod:<tenant>:<model>:<content as 16 hex digits>:<XXH64 of entry_key as 16
// hex digits>", where entry_key is the store's key string
// (ModuleKey::to_string(), which names the schema and module as well).
std::string remote_module_key(const std::string& tenant, const std::string& model,
                              uint64_t content, const std::string& entry_key);

// "state:<tenant>:<model>:<name>": a saved state published under a name.
std::string remote_state_key(const std::string& tenant, const std::string& model,
                             const std::string& name);

}  // namespace pcache
