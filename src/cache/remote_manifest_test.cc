// The remote manifest's reader refuses whatever is not a sound manifest,
// before anything is read or allocated by it.
#include "cache/remote_manifest.h"

#include <boost/test/unit_test.hpp>

#include "cache/remote_format.h"

namespace pcache {
namespace {

RemoteManifest three_chunks() {
  RemoteManifest m;
  m.chunks = 3;
  m.value_bytes = 250;
  m.chunk_bytes = 100;
  m.generation = 42;
  m.value_hash = 7;
  return m;
}

StatusCode decoded(const RemoteManifest& m) {
  return RemoteManifest::decode(m.encode(), "k").status().code();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(remote_manifest_test)

BOOST_AUTO_TEST_CASE(a_manifest_reads_back_as_written) {
  auto m = RemoteManifest::decode(three_chunks().encode(), "k");
  BOOST_REQUIRE(m.ok());
  BOOST_TEST(m->chunks == 3u);
  BOOST_TEST(m->value_bytes == 250u);
  BOOST_TEST(m->generation == 42u);
  BOOST_TEST(m->chunk_size(0) == 100u);
  BOOST_TEST(m->chunk_size(2) == 50u);
}

BOOST_AUTO_TEST_CASE(sizes_that_do_not_agree_are_refused) {
  RemoteManifest m = three_chunks();
  m.chunks = 2;
  BOOST_TEST((decoded(m) == StatusCode::kCorruption));
  // A value near 2^64 bytes must not pass as no chunks (the ceiling overflowing).
  m = three_chunks();
  m.value_bytes = ~0ull;
  m.chunk_bytes = 1ull << 63;
  m.chunks = 0;
  BOOST_TEST((decoded(m) == StatusCode::kCorruption));
  m.chunks = 2;  // the true ceiling, with chunks larger than Redis holds
  BOOST_TEST((decoded(m) == StatusCode::kCorruption));
  m = three_chunks();
  m.chunk_bytes = 0;
  BOOST_TEST((decoded(m) == StatusCode::kCorruption));
}

BOOST_AUTO_TEST_CASE(damaged_bytes_are_refused_with_the_key_named) {
  std::string bytes = three_chunks().encode();
  bytes[20] ^= 1;
  const Status s = RemoteManifest::decode(bytes, "pcache:mod:x").status();
  BOOST_TEST((s.code() == StatusCode::kCorruption));
  BOOST_TEST(s.message() == "pcache:mod:x: manifest checksum mismatch");
  BOOST_TEST((RemoteManifest::decode("short", "k").status().code() == StatusCode::kCorruption));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
