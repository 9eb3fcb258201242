// A module store entry's identity (ModuleKey) and content (ModuleKV), and
// the entry's int8 form (QuantizedKV) that the host tier keeps and the
// module file format stores (cache/module_codec.h).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cache/int8_quant.h"

namespace pcache {

struct ModuleKey {
  std::string model;     // model fingerprint (hex)
  std::string schema;    // schema name
  std::string module;    // module path in the schema, "menu/specials"; "" for the root text
  uint64_t content = 0;  // hash of the entry's inputs
  // Whose cache this is: "" for the engine's own; a server sets one per
  // isolated client, so that tenants never share an entry, locally or remotely.
  std::string tenant;
  // "<model>/<schema>/<module>/<content hex>", with "t:<tenant>/" before it when
  // a tenant is set; unique per key.
  std::string to_string() const;
};

// Encoded states of one module.
struct ModuleKV {
  std::vector<int> tokens;         // [T]
  std::vector<int64_t> positions;  // [T], ascending
  // Per layer [Hkv, T, D], all on one device, one dtype. Entries the store
  // hands out from its device tier keep each side's layers in one buffer
  // (see packed_layers).
  std::vector<at::Tensor> k, v;
  int64_t bytes() const;  // K and V bytes
};

// The layers as one [L, Hkv, T, D] tensor when they are consecutive slices of
// one buffer (as the store keeps them), so that a module is copied into a KV
// cache with one copy per side; undefined otherwise.
at::Tensor packed_layers(const std::vector<at::Tensor>& layers);

// An entry's K/V as per-channel int8 (int8_tiers): tokens and positions as
// they are, K and V quantized, in file order (layer 0 K, layer 0 V, layer 1 K, ...).
struct QuantizedKV {
  std::vector<int> tokens;
  std::vector<int64_t> positions;
  std::vector<QuantizedTensor> kv;    // 2 L tensors
  at::ScalarType dtype = at::kFloat;  // of K and V before quantizing
  int64_t device_bytes = 0;           // K and V bytes once dequantized
  int64_t bytes() const;              // K and V bytes as held: values and scales
};

// kv (consistent shapes) quantized where it lives, the result moved to `to`;
// null when a tensor holds inf or NaN, which int8 cannot store.
std::shared_ptr<const QuantizedKV> quantize_kv(const ModuleKV& kv, at::Device to);

// q dequantized on `device`, in its original dtype.
std::shared_ptr<const ModuleKV> dequantize_kv(const QuantizedKV& q, at::Device device);

}  // namespace pcache
