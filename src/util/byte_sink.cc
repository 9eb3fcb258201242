#include "util/byte_sink.h"

#include <xxhash.h>

#include <new>

namespace pcache {

ChecksummedWriter::ChecksummedWriter(ByteSink& sink, uint64_t seed)
    : sink_(sink), state_(XXH64_createState()) {
  if (!state_) throw std::bad_alloc();
  XXH64_reset(state_, seed);
}

ChecksummedWriter::~ChecksummedWriter() { XXH64_freeState(state_); }

Status ChecksummedWriter::write(const void* data, size_t n) {
  XXH64_update(state_, data, n);
  return sink_.write(data, n);
}

Status ChecksummedWriter::finish() {
  const uint64_t digest = XXH64_digest(state_);
  return sink_.write(&digest, sizeof digest);
}

}  // namespace pcache
