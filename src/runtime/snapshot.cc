#include "runtime/snapshot.h"

#include <xxhash.h>

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string_view>
#include <utility>

#include "cache/kv_dtype.h"
#include "cache/tensor_status.h"
#include "runtime/snapshot_format.h"
#include "util/atomic_file.h"
#include "util/binary_io.h"
#include "util/byte_sink.h"
#include "util/excerpt.h"
#include "util/file_util.h"

namespace pcache {

namespace fmt = snapshot_format;

// Fields and tensors are written in host byte order, which the format fixes
// as little-endian (util/binary_io.h checks it).
static_assert(sizeof(int) == 4, "tokens are stored as 32-bit integers");
// The dtype codes are those of cache/kv_dtype.h; int8 is cache/int8_quant.h's.
static_assert(uint32_t{fmt::kF32} == kKvF32 && uint32_t{fmt::kBF16} == kKvBF16 &&
              uint32_t{fmt::kF16} == kKvF16);
static_assert(fmt::kInt8Max == kInt8QuantMax);

namespace {

std::string hex(uint64_t x) {
  char buf[19];
  std::snprintf(buf, sizeof buf, "0x%016" PRIx64, x);
  return buf;
}

Status validate(const std::string& path, const Snapshot& s) {
  auto invalid = [&](const std::string& why) {
    return Status::invalid_argument("write_snapshot " + path + ": " + why);
  };
  const auto t = static_cast<int64_t>(s.tokens.size());
  if (t == 0) return invalid("no tokens (a snapshot holds at least one)");
  if (static_cast<int64_t>(s.positions.size()) != t) {
    return invalid(std::to_string(t) + " tokens but " + std::to_string(s.positions.size()) +
                   " positions");
  }
  if (std::string why = kv_layers_problem(s.k, s.v, t); !why.empty()) return invalid(why);
  const at::Tensor& logits = s.last_logits;
  if (!logits.defined() || logits.dim() != 1 || logits.numel() == 0 ||
      logits.scalar_type() != at::kFloat) {
    return invalid("last_logits is " + kv_shape_of(logits) + ", expected a float32 tensor [V], V > 0");
  }
  if (s.model_fingerprint.size() > fmt::kMaxFingerprintBytes) {
    return invalid("model fingerprint longer than " + std::to_string(fmt::kMaxFingerprintBytes) +
                   " bytes");
  }
  if (s.resume_position < -1) {
    return invalid("resume position " + std::to_string(s.resume_position) + " (-1 or more)");
  }
  return Status::ok_status();
}

// Writes `s` (validated) in the snapshot format; `path` labels errors.
Status write_body(const std::string& path, ByteSink& file, const Snapshot& s,
                  SnapshotCompression compression) {
  ChecksummedWriter out(file, fmt::kChecksumSeed);
  auto hashed_write = [&](const void* data, size_t n) { return out.write(data, n); };
  const bool int8 = compression == SnapshotCompression::kInt8;
  uint32_t dtype = 0;
  kv_dtype_code(s.k[0].scalar_type(), &dtype);
  const uint64_t t = s.tokens.size();
  at::Tensor logits = s.last_logits.to(at::kCPU).contiguous();

  std::string header;
  append_u32(header, fmt::kVersion);
  append_u32(header, int8 ? fmt::kFlagInt8 : 0);
  append_u32(header, static_cast<uint32_t>(s.model_fingerprint.size()));
  header += s.model_fingerprint;
  append_u32(header, dtype);
  append_u32(header, static_cast<uint32_t>(s.k.size()));
  append_u32(header, static_cast<uint32_t>(s.k[0].size(0)));
  append_u32(header, static_cast<uint32_t>(s.k[0].size(2)));
  append_u64(header, t);
  append_u64(header, static_cast<uint64_t>(logits.numel()));
  PCACHE_RETURN_IF_ERROR(file.write(fmt::kMagic, fmt::kMagicBytes));
  PCACHE_RETURN_IF_ERROR(hashed_write(header.data(), header.size()));
  PCACHE_RETURN_IF_ERROR(hashed_write(s.tokens.data(), t * sizeof(int32_t)));
  PCACHE_RETURN_IF_ERROR(hashed_write(s.positions.data(), t * sizeof(int64_t)));
  PCACHE_RETURN_IF_ERROR(hashed_write(logits.data_ptr(), logits.nbytes()));
  std::string state;
  append_u64(state, static_cast<uint64_t>(s.resume_position));
  append_u32(state, (s.open_system_turn ? fmt::kStateOpenSystemTurn : 0) |
                        (s.sampler ? fmt::kStateHasSampler : 0));
  append_u64(state, s.sampler ? s.sampler->seed : 0);
  append_u64(state, s.sampler ? s.sampler->draws : 0);
  PCACHE_RETURN_IF_ERROR(hashed_write(state.data(), state.size()));
  for (size_t l = 0; l < s.k.size(); ++l) {
    for (const auto* side : {&s.k, &s.v}) {
      const at::Tensor& x = (*side)[l];
      if (!int8) {
        at::Tensor c = x.to(at::kCPU).contiguous();
        PCACHE_RETURN_IF_ERROR(hashed_write(c.data_ptr(), c.nbytes()));
        continue;
      }
      // Quantized where the tensor lives (a GPU's copy to host is then 1 byte an element).
      QuantizedTensor q = quantize_int8(x);
      at::Tensor scales = q.scales.to(at::kCPU).contiguous();
      // An inf or NaN makes its channel's scale inf or NaN: int8 cannot hold it.
      if (!at::isfinite(scales).all().item<bool>()) {
        return Status::invalid_argument("write_snapshot " + path + ": " +
                                        (side == &s.k ? "k[" : "v[") + std::to_string(l) +
                                        "] holds inf or NaN, which int8 cannot store");
      }
      at::Tensor values = q.values.to(at::kCPU).contiguous();
      PCACHE_RETURN_IF_ERROR(hashed_write(scales.data_ptr(), scales.nbytes()));
      PCACHE_RETURN_IF_ERROR(hashed_write(values.data_ptr(), values.nbytes()));
    }
  }
  return out.finish();
}

// The header, and the file size it describes (unset when it cannot be
// computed: unknown dtype or flags, or an overflow).
struct Header {
  uint32_t flags = 0, fingerprint_bytes = 0, dtype = 0, layers = 0, heads = 0, head_dim = 0;
  uint64_t t = 0, vocab = 0;
  uint64_t state_bytes = 0;  // between the logits and the tensors
  std::string fingerprint;
  std::optional<uint64_t> described_size;
  uint64_t tensor_bytes = 0;  // one K or V, as stored
};

// The state fields of version 2 (kStateBytes at `p`) into `s`.
Status read_state(const std::string& path, const unsigned char* p, Snapshot& s) {
  ByteCursor in(p, fmt::kStateBytes);
  uint32_t flags = 0;
  uint64_t seed = 0, draws = 0;
  in.read(&s.resume_position);
  in.read(&flags);
  in.read(&seed);
  in.read(&draws);
  auto corrupt = [&](const std::string& why) { return Status::corruption(path + ": " + why); };
  if ((flags & ~fmt::kKnownStateFlags) != 0) return corrupt("unknown state flags " + hex(flags));
  if (s.resume_position < -1) {
    return corrupt("resume position " + std::to_string(s.resume_position) + " (-1 or more)");
  }
  s.open_system_turn = (flags & fmt::kStateOpenSystemTurn) != 0;
  if ((flags & fmt::kStateHasSampler) != 0) {
    s.sampler = SamplerState{seed, draws};
  } else if (seed != 0 || draws != 0) {
    return corrupt("sampler seed and draws set without the sampler flag");
  }
  return Status::ok_status();
}

// Version 1's text: optional "open_system_turn=1 " and "resume_position=N "
// tags, then the sampler's own text. That text (the generator's state as
// libstdc++ prints it) is not read: a version-1 state's continuation starts
// its generator afresh, as it did when version 1 was current.
Status read_v1_state(const std::string& path, std::string_view text, Snapshot& s) {
  auto take_tag = [&text](std::string_view tag) {
    if (text.substr(0, tag.size()) != tag) return false;
    text.remove_prefix(tag.size());
    return true;
  };
  s.open_system_turn = take_tag(fmt::kV1OpenTurnTag);
  if (!take_tag(fmt::kV1ResumeTag)) return Status::ok_status();
  const std::string_view digits = text.substr(0, text.find(' '));
  const auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), s.resume_position);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      s.resume_position < 0) {
    return Status::corruption(path + ": resume position " + excerpt(digits) + " is not a number");
  }
  return Status::ok_status();
}

// The snapshot in `data` (`size` bytes); `path` labels errors.
StatusOr<Snapshot> decode_body(const std::string& path, const unsigned char* data, size_t size,
                               const std::string& expected_fingerprint, at::Device device,
                               at::ScalarType dtype) {
  auto corrupt = [&](const std::string& why) { return Status::corruption(path + ": " + why); };
  const std::string size_text = std::to_string(size) + " bytes";
  auto too_short = [&](size_t least) {
    return corrupt("truncated: " + size_text + ", a snapshot has at least " +
                   std::to_string(least));
  };
  if (size < fmt::kMinV1FileBytes) return too_short(fmt::kMinV1FileBytes);
  if (std::memcmp(data, fmt::kMagic, fmt::kMagicBytes) != 0) {
    return corrupt("not a pcache snapshot (bad magic)");
  }
  // From the version up to the end of the file: the header, the payload and the checksum.
  ByteCursor in(data + fmt::kMagicBytes, size - fmt::kMagicBytes);
  uint32_t version = 0;
  in.read(&version);
  if (version != fmt::kVersion && version != fmt::kVersion1) {
    return Status::unsupported(path + ": snapshot version " + std::to_string(version) +
                               ", this build reads " + std::to_string(fmt::kVersion1) + " and " +
                               std::to_string(fmt::kVersion));
  }
  const bool v1 = version == fmt::kVersion1;
  if (!v1 && size < fmt::kMinFileBytes) return too_short(fmt::kMinFileBytes);

  // The sizes the header gives must fit in the file; the checksum, over the
  // whole file, cannot tell a cut file from a damaged one.
  Header h;
  in.read(&h.flags);
  in.read(&h.fingerprint_bytes);
  const unsigned char* fp = in.take(h.fingerprint_bytes);
  if (!fp || !in.read(&h.dtype) || !in.read(&h.layers) || !in.read(&h.heads) ||
      !in.read(&h.head_dim) || !in.read(&h.t) || !in.read(&h.vocab)) {
    return corrupt("truncated: " + size_text + ", the header runs past the end");
  }
  h.fingerprint.assign(reinterpret_cast<const char*>(fp), h.fingerprint_bytes);
  const size_t header_end = fmt::kMagicBytes + in.pos();
  // Tokens, positions and logits; then the state fields (version 1: the
  // sampler text's length, then the text).
  uint64_t t_bytes = 0, v_bytes = 0, state_at = 0;
  bool overflow = __builtin_mul_overflow(h.t, sizeof(int32_t) + sizeof(int64_t), &t_bytes) ||
                  __builtin_mul_overflow(h.vocab, sizeof(float), &v_bytes) ||
                  __builtin_add_overflow(uint64_t{header_end}, t_bytes, &state_at) ||
                  __builtin_add_overflow(state_at, v_bytes, &state_at);
  if (!overflow) {
    const size_t fixed = v1 ? fmt::kV1SamplerLengthBytes : fmt::kStateBytes;
    if (state_at > size || size - state_at < fixed + fmt::kChecksumBytes) {
      return corrupt("truncated: " + size_text + ", the header describes at least " +
                     std::to_string(state_at + fixed + fmt::kChecksumBytes));
    }
    h.state_bytes = fixed;
    if (v1) {
      uint32_t text_bytes = 0;
      std::memcpy(&text_bytes, data + state_at, sizeof text_bytes);
      h.state_bytes += text_bytes;
    }
    at::ScalarType file_dtype;
    uint64_t elements = 0, all_tensors = 0, described = 0;
    if (kv_dtype_of(h.dtype, &file_dtype) && (h.flags & ~fmt::kKnownFlags) == 0) {
      const bool int8 = (h.flags & fmt::kFlagInt8) != 0;
      const uint64_t channels = uint64_t{h.heads} * h.head_dim;  // < 2^64: u32 x u32
      uint64_t scale_bytes = 0;
      overflow = __builtin_mul_overflow(channels, h.t, &elements) ||
                 __builtin_mul_overflow(elements, int8 ? 1 : at::elementSize(file_dtype),
                                        &h.tensor_bytes) ||
                 (int8 && (__builtin_mul_overflow(channels, sizeof(float), &scale_bytes) ||
                           __builtin_add_overflow(h.tensor_bytes, scale_bytes, &h.tensor_bytes))) ||
                 __builtin_mul_overflow(h.tensor_bytes, 2 * uint64_t{h.layers}, &all_tensors) ||
                 __builtin_add_overflow(state_at + h.state_bytes, all_tensors, &described) ||
                 __builtin_add_overflow(described, fmt::kChecksumBytes, &described);
      if (!overflow) h.described_size = described;
    }
  }
  if (h.described_size && *h.described_size > size) {
    return corrupt("truncated: " + size_text + ", the header describes " +
                   std::to_string(*h.described_size));
  }

  uint64_t stored = 0;
  std::memcpy(&stored, data + size - fmt::kChecksumBytes, sizeof stored);
  const uint64_t actual = XXH64(data + fmt::kMagicBytes,
                                size - fmt::kMagicBytes - fmt::kChecksumBytes, fmt::kChecksumSeed);
  if (stored != actual) {
    return corrupt("checksum mismatch (stored " + hex(stored) + ", computed " + hex(actual) + ")");
  }
  if (h.fingerprint != expected_fingerprint) {
    return Status::failed_precondition(path + ": snapshot made with model " + h.fingerprint +
                                       ", this engine runs " + expected_fingerprint);
  }

  // The checksum holds, so these are a writer's mistakes rather than damage.
  at::ScalarType file_dtype;
  if ((h.flags & ~fmt::kKnownFlags) != 0) return corrupt("unknown flags " + hex(h.flags));
  if (!kv_dtype_of(h.dtype, &file_dtype)) {
    return corrupt("unknown dtype code " + std::to_string(h.dtype));
  }
  if (h.fingerprint_bytes > fmt::kMaxFingerprintBytes) {
    return corrupt("inconsistent sizes: fingerprint of " + std::to_string(h.fingerprint_bytes) +
                   " bytes");
  }
  if (h.layers == 0 || h.heads == 0 || h.head_dim == 0 || h.t == 0 || h.vocab == 0) {
    return corrupt("inconsistent sizes: layers " + std::to_string(h.layers) + ", kv_heads " +
                   std::to_string(h.heads) + ", head_dim " + std::to_string(h.head_dim) + ", T " +
                   std::to_string(h.t) + ", vocab " + std::to_string(h.vocab) + " (none may be 0)");
  }
  if (!h.described_size || *h.described_size != size) {
    return corrupt("inconsistent sizes: " + size_text + ", the header describes " +
                   (h.described_size ? std::to_string(*h.described_size) : "more than 2^64"));
  }

  // Every size is checked against the file: each take() below is within it.
  // The tensors are built aside, so nothing is returned half loaded.
  ByteCursor payload(data + header_end, size - header_end - fmt::kChecksumBytes);
  auto copy_out = [&](void* dst, size_t n) { std::memcpy(dst, payload.take(n), n); };
  Snapshot s;
  s.model_fingerprint = std::move(h.fingerprint);
  s.tokens.resize(h.t);
  s.positions.resize(h.t);
  copy_out(s.tokens.data(), h.t * sizeof(int32_t));
  copy_out(s.positions.data(), h.t * sizeof(int64_t));
  at::Tensor logits = at::empty({static_cast<int64_t>(h.vocab)}, at::kFloat);
  copy_out(logits.data_ptr(), logits.nbytes());
  s.last_logits = logits.to(device);
  const unsigned char* state = payload.take(h.state_bytes);
  if (v1) {
    const size_t n = h.state_bytes - fmt::kV1SamplerLengthBytes;
    PCACHE_RETURN_IF_ERROR(read_v1_state(
        path,
        std::string_view(reinterpret_cast<const char*>(state) + fmt::kV1SamplerLengthBytes, n), s));
  } else {
    PCACHE_RETURN_IF_ERROR(read_state(path, state, s));
  }
  const int64_t heads = h.heads, t = static_cast<int64_t>(h.t), head_dim = h.head_dim;
  const bool int8 = (h.flags & fmt::kFlagInt8) != 0;
  at::Tensor scratch;
  for (uint32_t l = 0; l < h.layers; ++l) {
    for (auto* side : {&s.k, &s.v}) {
      if (!int8) {
        at::Tensor x = at::empty({heads, t, head_dim}, file_dtype);
        copy_out(x.data_ptr(), x.nbytes());
        side->push_back(x.to(device, dtype));
        continue;
      }
      // Scales are copied out (float needs alignment); int8 values are read in place.
      QuantizedTensor q;
      q.scales = at::empty({heads, 1, head_dim}, at::kFloat);
      copy_out(q.scales.data_ptr(), q.scales.nbytes());
      const unsigned char* values = payload.take(static_cast<uint64_t>(heads) * t * head_dim);
      q.values = at::from_blob(const_cast<unsigned char*>(values), {heads, t, head_dim}, at::kChar);
      q.scales = q.scales.to(device);
      q.values = q.values.to(device);
      // The result is a new tensor: nothing refers to the mapping once it is unmapped.
      side->push_back(dequantize_int8(q, dtype, scratch));
    }
  }
  return s;
}

}  // namespace

Status write_snapshot(const std::string& path, const Snapshot& snapshot,
                      SnapshotCompression compression) {
  PCACHE_RETURN_IF_ERROR(validate(path, snapshot));
  return without_exceptions("write_snapshot " + path, [&]() -> Status {
    // What an earlier save of this name left when it was killed.
    const size_t slash = path.rfind('/');
    if (slash == std::string::npos) {
      remove_stale_temp_files(".", path);
    } else {
      remove_stale_temp_files(path.substr(0, slash), path.substr(slash + 1));
    }
    AtomicFileWriter file(path);
    PCACHE_RETURN_IF_ERROR(file.open());
    PCACHE_RETURN_IF_ERROR(write_body(path, file, snapshot, compression));
    PCACHE_RETURN_IF_ERROR(file.sync());
    return file.commit();
  });
}

StatusOr<std::string> encode_snapshot(const Snapshot& snapshot, SnapshotCompression compression,
                                      const std::string& label) {
  PCACHE_RETURN_IF_ERROR(validate(label, snapshot));
  return without_exceptions("encode_snapshot " + label, [&]() -> StatusOr<std::string> {
    StringSink bytes;
    PCACHE_RETURN_IF_ERROR(write_body(label, bytes, snapshot, compression));
    return bytes.take();
  });
}

namespace {

Status check_dtype(const std::string& label, at::ScalarType dtype) {
  uint32_t code;
  if (!kv_dtype_code(dtype, &code)) {
    return Status::invalid_argument("read_snapshot " + label + ": dtype " + c10::str(dtype) +
                                    ", expected float32, bfloat16 or float16");
  }
  return Status::ok_status();
}

}  // namespace

StatusOr<Snapshot> read_snapshot(const std::string& path, const std::string& expected_fingerprint,
                                 at::Device device, at::ScalarType dtype) {
  PCACHE_RETURN_IF_ERROR(check_dtype(path, dtype));
  return without_exceptions("read_snapshot " + path, [&]() -> StatusOr<Snapshot> {
    PCACHE_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
    return decode_body(path, file.data(), file.size(), expected_fingerprint, device, dtype);
  });
}

StatusOr<Snapshot> decode_snapshot(std::string_view bytes, const std::string& label,
                                   const std::string& expected_fingerprint, at::Device device,
                                   at::ScalarType dtype) {
  PCACHE_RETURN_IF_ERROR(check_dtype(label, dtype));
  return without_exceptions("read_snapshot " + label, [&]() -> StatusOr<Snapshot> {
    return decode_body(label, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                       expected_fingerprint, device, dtype);
  });
}

}  // namespace pcache
