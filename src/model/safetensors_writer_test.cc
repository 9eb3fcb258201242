#include "model/safetensors_writer.h"

#include <boost/test/unit_test.hpp>
#include <cstring>
#include <filesystem>

#include "testing.h"

namespace pcache {
namespace {

SafetensorsEntry entry(const std::string& name, StDType dtype, at::Tensor t) {
  return {name, dtype, t.sizes().vec(), [t]() -> StatusOr<at::Tensor> { return t; }};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(safetensors_writer_test)

BOOST_AUTO_TEST_CASE(what_it_writes_reads_back_aligned) {
  testing::TempDir dir;
  const std::string path = dir.path + "/w.safetensors";
  const at::Tensor a = at::arange(6, at::kFloat).view({2, 3});
  const at::Tensor b = at::tensor({-127, 0, 5}, at::kChar);
  const at::Tensor c = at::ones({4}, at::kBFloat16);
  BOOST_REQUIRE_MESSAGE(
      write_safetensors(path,
                        {entry("z.first", StDType::kF32, a), entry("b", StDType::kI8, b),
                         entry("c", StDType::kBF16, c)},
                        {{"format", "pt"}, {"k", "v"}})
          .ok(),
      "write");
  auto f = testing::ok(SafetensorsFile::open(path));
  BOOST_TEST(f->tensors().size() == 3u);
  BOOST_TEST(f->metadata().at("k") == "v");
  BOOST_TEST(f->metadata().at("format") == "pt");
  // The data section starts 8-byte aligned, and holds the tensors in the order given.
  BOOST_TEST((f->data(*f->find("z.first")) - f->bytes()) % 8 == 0);
  BOOST_TEST(f->find("z.first")->begin == 0u);
  BOOST_TEST(f->find("b")->begin == 24u);
  BOOST_TEST((f->find("b")->dtype == StDType::kI8));
  BOOST_TEST(f->find("b")->shape == std::vector<int64_t>{3});
  BOOST_TEST(std::memcmp(f->data(*f->find("z.first")), a.data_ptr(), 24) == 0);
  BOOST_TEST(std::memcmp(f->data(*f->find("b")), b.data_ptr(), 3) == 0);
  BOOST_TEST(std::memcmp(f->data(*f->find("c")), c.data_ptr(), 8) == 0);
}

BOOST_AUTO_TEST_CASE(refuses_bad_entries_and_leaves_no_file) {
  testing::TempDir dir;
  const std::string path = dir.path + "/w.safetensors";
  const at::Tensor a = at::zeros({2, 2});
  auto expect_refused = [&](const std::vector<SafetensorsEntry>& entries, const std::string& what) {
    Status s = write_safetensors(path, entries);
    BOOST_TEST_MESSAGE(s.to_string());
    BOOST_TEST(s.code() == StatusCode::kInvalidArgument);
    BOOST_TEST(s.message().find(what) != std::string::npos);
    BOOST_TEST(std::filesystem::is_empty(dir.path));
  };
  expect_refused({entry("a", StDType::kF32, a), entry("a", StDType::kF32, a)}, "named twice");
  expect_refused({entry("__metadata__", StDType::kF32, a)}, "reserved");
  // Values of another shape or element size than declared, found at their turn.
  expect_refused({entry("ok", StDType::kF32, a), {"short", StDType::kF32, {3}, [a] { return StatusOr<at::Tensor>(a); }}},
                 "short");
  expect_refused({entry("wide", StDType::kBF16, a)}, "wide");
  // A callback's own error comes back as it is.
  Status s = write_safetensors(path, {{"x", StDType::kF32, {1}, []() -> StatusOr<at::Tensor> {
                                         return Status::not_found("gone");
                                       }}});
  BOOST_TEST(s.code() == StatusCode::kNotFound);
  BOOST_TEST(std::filesystem::is_empty(dir.path));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
