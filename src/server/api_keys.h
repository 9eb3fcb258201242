// ApiKeys: who may call the server, and which tenant each caller is. A
// tenant is an API key: its cache salt keeps its prefixes and states apart
// from other keys' (SamplingOptions::cache_salt), unless the cache is
// shared, and its label names its folder of snapshots.
//
// Thread-safe (immutable after construction).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pcache::server {

struct Tenant {
  uint64_t cache_salt = 0;  // 0: the shared cache
  std::string label;        // "shared", or "key-<16 hex digits of a hash of the key>"
};

class ApiKeys {
 public:
  // No keys: anyone is let in, as the shared tenant.
  ApiKeys(std::vector<std::string> keys, bool shared_cache);

  bool required() const { return !keys_.empty(); }
  // The tenant of an Authorization header's value ("Bearer KEY"), or nullopt
  // when keys are required and it holds none of them. Keys are compared in
  // time that does not depend on where they differ.
  std::optional<Tenant> authenticate(const std::string& authorization) const;

 private:
  std::vector<std::string> keys_;
  std::vector<Tenant> tenants_;
};

}  // namespace pcache::server
