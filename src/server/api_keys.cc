#include "server/api_keys.h"

#include <cstdio>

namespace pcache::server {
namespace {

// FNV-1a: a stable hash (std::hash may differ between builds), so that a
// key's snapshot folder is the same after a restart.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// The time taken depends on the length of `given` only. `key` is not empty.
bool equal_in_constant_time(const std::string& given, const std::string& key) {
  unsigned char diff = given.size() != key.size();
  for (size_t i = 0; i < given.size(); ++i) diff |= given[i] ^ key[i % key.size()];
  return diff == 0;
}

}  // namespace

ApiKeys::ApiKeys(std::vector<std::string> keys, bool shared_cache) {
  for (auto& key : keys) {
    if (key.empty()) continue;  // the command line refuses them; never a key that matches ""
    keys_.push_back(std::move(key));
  }
  for (const auto& key : keys_) {
    Tenant t;
    if (!shared_cache) {
      const uint64_t h = fnv1a(key);
      t.cache_salt = h == 0 ? 1 : h;
      char label[32];
      std::snprintf(label, sizeof label, "key-%016llx", static_cast<unsigned long long>(h));
      t.label = label;
    } else {
      t.label = "shared";
    }
    tenants_.push_back(t);
  }
}

std::optional<Tenant> ApiKeys::authenticate(const std::string& authorization) const {
  if (keys_.empty()) return Tenant{0, "shared"};
  static const std::string kBearer = "Bearer ";
  if (authorization.compare(0, kBearer.size(), kBearer) != 0) return std::nullopt;
  const std::string given = authorization.substr(kBearer.size());
  std::optional<Tenant> found;
  for (size_t i = 0; i < keys_.size(); ++i) {  // every key compared: no early exit
    if (equal_in_constant_time(given, keys_[i]) && !found) found = tenants_[i];
  }
  return found;
}

}  // namespace pcache::server
