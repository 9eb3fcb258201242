#include "cache/module_kv.h"

#include <cinttypes>
#include <cstdio>

#include "util/percent_escape.h"

namespace pcache {

namespace {

// '/' separates the fields, so the tenant, model and schema escape it (and
// '%'); the module path keeps its slashes: it is whatever lies between the
// second and the last '/', the content hash having a fixed width.
void append_escaped(std::string& out, const std::string& s) { append_percent_escaped(out, s, "/"); }

}  // namespace

std::string ModuleKey::to_string() const {
  std::string out;
  if (!tenant.empty()) {
    out += "t:";
    append_escaped(out, tenant);
    out += '/';
  }
  append_escaped(out, model);
  out += '/';
  append_escaped(out, schema);
  out += '/';
  out += module;
  out += '/';
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016" PRIx64, content);
  out += hex;
  return out;
}

at::Tensor packed_layers(const std::vector<at::Tensor>& layers) {
  if (layers.empty() || !layers[0].defined() || !layers[0].is_contiguous()) return at::Tensor();
  const at::Tensor& first = layers[0];
  const int64_t n = first.numel();
  for (size_t l = 1; l < layers.size(); ++l) {
    const at::Tensor& t = layers[l];
    if (!t.defined() || !t.is_contiguous() || !t.sizes().equals(first.sizes()) ||
        !t.storage().is_alias_of(first.storage()) ||
        t.storage_offset() != first.storage_offset() + static_cast<int64_t>(l) * n) {
      return at::Tensor();
    }
  }
  std::vector<int64_t> sizes = {static_cast<int64_t>(layers.size())}, strides = {n};
  sizes.insert(sizes.end(), first.sizes().begin(), first.sizes().end());
  strides.insert(strides.end(), first.strides().begin(), first.strides().end());
  return first.as_strided(sizes, strides, first.storage_offset());
}

int64_t ModuleKV::bytes() const {
  int64_t n = 0;
  for (const auto* side : {&k, &v}) {
    for (const auto& t : *side) n += t.defined() ? static_cast<int64_t>(t.nbytes()) : 0;
  }
  return n;
}

int64_t QuantizedKV::bytes() const {
  int64_t n = 0;
  for (const auto& q : kv) n += static_cast<int64_t>(q.values.nbytes() + q.scales.nbytes());
  return n;
}

std::shared_ptr<const QuantizedKV> quantize_kv(const ModuleKV& kv, at::Device to) {
  auto out = std::make_shared<QuantizedKV>();
  out->tokens = kv.tokens;
  out->positions = kv.positions;
  out->dtype = kv.k[0].scalar_type();
  out->device_bytes = kv.bytes();
  for (size_t l = 0; l < kv.k.size(); ++l) {
    for (const at::Tensor* x : {&kv.k[l], &kv.v[l]}) {
      QuantizedTensor q = quantize_int8(*x);
      if (!at::isfinite(q.scales).all().item<bool>()) return nullptr;
      out->kv.push_back({q.values.to(to).contiguous(), q.scales.to(to).contiguous()});
    }
  }
  return out;
}

std::shared_ptr<const ModuleKV> dequantize_kv(const QuantizedKV& q, at::Device device) {
  auto out = std::make_shared<ModuleKV>();
  out->tokens = q.tokens;
  out->positions = q.positions;
  at::Tensor scratch;
  for (size_t i = 0; i < q.kv.size(); ++i) {
    QuantizedTensor d{q.kv[i].values.to(device), q.kv[i].scales.to(device)};
    (i % 2 == 0 ? out->k : out->v).push_back(dequantize_int8(d, q.dtype, scratch));
  }
  return out;
}

}  // namespace pcache
