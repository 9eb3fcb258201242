#include "cache/module_codec.h"

#include <xxhash.h>

#include <cstring>
#include <utility>

#include "cache/kv_dtype.h"
#include "cache/module_file_format.h"
#include "util/binary_io.h"

namespace pcache {

namespace fmt = module_file_format;

// Tensors and fields are written in host byte order, which the format fixes
// as little-endian (util/binary_io.h checks it).
static_assert(sizeof(int) == 4, "tokens are stored as 32-bit integers");
// The dtype codes are those of cache/kv_dtype.h.
static_assert(uint32_t{fmt::kF32} == kKvF32 && uint32_t{fmt::kBF16} == kKvBF16 &&
              uint32_t{fmt::kF16} == kKvF16);

Status write_module(ByteSink& sink, const std::string& key, const ModuleKV& kv, bool int8) {
  std::shared_ptr<const QuantizedKV> q = int8 ? quantize_kv(kv, at::kCPU) : nullptr;
  ChecksummedWriter out(sink, fmt::kChecksumSeed);
  auto hashed_write = [&](const void* data, size_t n) { return out.write(data, n); };
  uint32_t dtype = 0;
  kv_dtype_code(kv.k[0].scalar_type(), &dtype);
  const auto t = static_cast<uint64_t>(kv.tokens.size());
  std::string header;
  append_u32(header, fmt::kVersion);
  append_u32(header, static_cast<uint32_t>(fmt::kFixedHeaderBytes + key.size()));
  append_u32(header, static_cast<uint32_t>(key.size()));
  header += key;
  append_u32(header, dtype);
  append_u32(header, static_cast<uint32_t>(kv.k.size()));
  append_u32(header, static_cast<uint32_t>(kv.k[0].size(0)));
  append_u32(header, static_cast<uint32_t>(kv.k[0].size(2)));
  append_u64(header, t);
  append_u32(header, q ? fmt::kFlagInt8 : 0);
  PCACHE_RETURN_IF_ERROR(sink.write(fmt::kMagic, fmt::kMagicBytes));
  PCACHE_RETURN_IF_ERROR(hashed_write(header.data(), header.size()));
  PCACHE_RETURN_IF_ERROR(hashed_write(kv.tokens.data(), t * sizeof(int32_t)));
  PCACHE_RETURN_IF_ERROR(hashed_write(kv.positions.data(), t * sizeof(int64_t)));
  if (q) {
    for (const QuantizedTensor& x : q->kv) {
      PCACHE_RETURN_IF_ERROR(hashed_write(x.scales.data_ptr(), x.scales.nbytes()));
      PCACHE_RETURN_IF_ERROR(hashed_write(x.values.data_ptr(), x.values.nbytes()));
    }
  }
  for (size_t l = 0; !q && l < kv.k.size(); ++l) {
    for (const at::Tensor* x : {&kv.k[l], &kv.v[l]}) {
      at::Tensor c = x->to(at::kCPU).contiguous();
      PCACHE_RETURN_IF_ERROR(hashed_write(c.data_ptr(), c.nbytes()));
    }
  }
  return out.finish();
}

StatusOr<std::shared_ptr<const ModuleKV>> read_module(const unsigned char* data, size_t size,
                                                      const std::string& label,
                                                      const std::string& key, at::Device device) {
  auto corrupt = [&](const std::string& why) { return Status::corruption(label + ": " + why); };
  if (size < fmt::kFixedHeaderBytes + fmt::kChecksumBytes) {
    return corrupt("truncated (" + std::to_string(size) + " bytes)");
  }
  if (std::memcmp(data, fmt::kMagic, fmt::kMagicBytes) != 0) return corrupt("bad magic");
  // Everything between the magic and the checksum; the header is read from it.
  ByteCursor in(data + fmt::kMagicBytes, size - fmt::kMagicBytes - fmt::kChecksumBytes);
  uint32_t version = 0, header_bytes = 0, key_bytes = 0;
  in.read(&version);
  if (version != fmt::kVersion) return corrupt("unsupported version " + std::to_string(version));
  in.read(&header_bytes);
  in.read(&key_bytes);
  const unsigned char* key_data = nullptr;
  if (key_bytes > fmt::kMaxKeyBytes || header_bytes != fmt::kFixedHeaderBytes + key_bytes ||
      !(key_data = in.take(key_bytes))) {
    return corrupt("bad header size");
  }
  if (std::string(reinterpret_cast<const char*>(key_data), key_bytes) != key) {
    return corrupt("holds another key");
  }
  uint32_t code = 0, layers = 0, heads = 0, head_dim = 0, flags = 0;
  uint64_t t = 0;
  at::ScalarType dtype = at::kFloat;
  if (!in.read(&code) || !in.read(&layers) || !in.read(&heads) || !in.read(&head_dim) ||
      !in.read(&t) || !in.read(&flags)) {
    return corrupt("truncated header");
  }
  if (!kv_dtype_of(code, &dtype)) return corrupt("unknown dtype code " + std::to_string(code));
  if ((flags & ~fmt::kKnownFlags) != 0) return corrupt("unknown flags " + std::to_string(flags));
  const bool int8 = (flags & fmt::kFlagInt8) != 0;
  if (layers == 0 || heads == 0 || head_dim == 0) return corrupt("empty shape");
  if (layers > fmt::kMaxLayers) {
    return corrupt(std::to_string(layers) + " layers (at most " + std::to_string(fmt::kMaxLayers) + ")");
  }
  // The payload, sized without overflow, must fill the file up to the checksum.
  // One K or V: H x T x D elements of the dtype, or with int8 H x D f32 scales
  // and H x T x D bytes.
  const uint64_t channels = uint64_t{heads} * head_dim;  // < 2^64: u32 x u32
  uint64_t row_bytes = 0, tensor_bytes = 0, all_tensors = 0, tokens_bytes = 0, payload = 0;
  if (__builtin_mul_overflow(channels, int8 ? 1 : at::elementSize(dtype), &row_bytes) ||
      __builtin_mul_overflow(row_bytes, t, &tensor_bytes) ||
      (int8 && __builtin_add_overflow(tensor_bytes, channels * sizeof(float), &tensor_bytes)) ||
      __builtin_mul_overflow(tensor_bytes, 2 * uint64_t{layers}, &all_tensors) ||
      __builtin_mul_overflow(t, sizeof(int32_t) + sizeof(int64_t), &tokens_bytes) ||
      __builtin_add_overflow(all_tensors, tokens_bytes, &payload) ||
      payload != size - header_bytes - fmt::kChecksumBytes) {
    return corrupt("size does not match the shape");
  }
  uint64_t stored = 0;
  std::memcpy(&stored, data + size - fmt::kChecksumBytes, sizeof stored);
  const uint64_t actual = XXH64(data + fmt::kMagicBytes,
                                size - fmt::kMagicBytes - fmt::kChecksumBytes, fmt::kChecksumSeed);
  if (stored != actual) return corrupt("checksum mismatch");

  // Sizes are checked: every take() below is within the file.
  auto copy_out = [&](void* dst, size_t n) {
    const unsigned char* src = in.take(n);
    if (n > 0) std::memcpy(dst, src, n);
  };
  auto kv = std::make_shared<ModuleKV>();
  kv->tokens.resize(t);
  kv->positions.resize(t);
  copy_out(kv->tokens.data(), t * sizeof(int32_t));
  copy_out(kv->positions.data(), t * sizeof(int64_t));
  const auto shape = {int64_t{heads}, static_cast<int64_t>(t), int64_t{head_dim}};
  at::Tensor scratch;
  for (uint32_t l = 0; l < layers; ++l) {
    for (auto* side : {&kv->k, &kv->v}) {
      if (!int8) {
        at::Tensor x = at::empty(shape, at::TensorOptions().dtype(dtype));
        copy_out(x.data_ptr(), tensor_bytes);
        side->push_back(x.to(device));
        continue;
      }
      QuantizedTensor q;
      q.scales = at::empty({int64_t{heads}, 1, int64_t{head_dim}}, at::kFloat);
      copy_out(q.scales.data_ptr(), q.scales.nbytes());
      q.values = at::empty(shape, at::kChar);
      copy_out(q.values.data_ptr(), q.values.nbytes());
      q.scales = q.scales.to(device);
      q.values = q.values.to(device);
      side->push_back(dequantize_int8(q, dtype, scratch));
    }
  }
  return std::shared_ptr<const ModuleKV>(std::move(kv));
}


}  // namespace pcache
