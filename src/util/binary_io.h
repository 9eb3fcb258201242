// Little helpers for the binary file formats (module cache files, snapshots):
// appending fixed-width fields to a buffer and reading fields of a mapped file
// in order. Fields are in host byte order, which the formats fix as
// little-endian (checked below).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace pcache {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "pcache's file formats are little-endian");

inline void append_u32(std::string& out, uint32_t x) {
  out.append(reinterpret_cast<const char*>(&x), 4);
}
inline void append_u64(std::string& out, uint64_t x) {
  out.append(reinterpret_cast<const char*>(&x), 8);
}

// Reads fields of a mapped file in order, never past its end.
class ByteCursor {
 public:
  ByteCursor(const unsigned char* data, size_t size) : data_(data), size_(size) {}
  // The next n bytes, or nullptr (and nothing consumed) when fewer are left.
  const unsigned char* take(uint64_t n) {
    if (size_ - pos_ < n) return nullptr;
    const unsigned char* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  // Copies the next sizeof(T) bytes into *out; false when fewer are left.
  template <typename T>
  bool read(T* out) {
    const unsigned char* p = take(sizeof(T));
    if (p) std::memcpy(out, p, sizeof(T));
    return p != nullptr;
  }
  size_t pos() const { return pos_; }

 private:
  const unsigned char* data_;
  size_t size_, pos_ = 0;
};

}  // namespace pcache
