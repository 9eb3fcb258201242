#include "model/safetensors.h"

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>

#include "safetensors_testing.h"
#include "testing.h"

namespace pcache {
namespace {

std::map<std::string, at::Tensor> sample() {
  return {{"a", at::arange(6, at::kFloat).view({2, 3})}, {"b", at::ones({4}, at::kBFloat16)}};
}

Status open_error(const std::string& path) {
  auto f = SafetensorsFile::open(path);
  BOOST_REQUIRE(!f.ok());
  return f.status();
}

bool mentions(const Status& s, const std::string& what) {
  BOOST_TEST_MESSAGE(s.to_string());
  return s.message().find(what) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(safetensors_test)

BOOST_AUTO_TEST_CASE(reads_what_was_written) {
  testing::TempDir dir;
  const std::string path = dir.path + "/m.safetensors";
  testing::write_safetensors(path, sample(), [](nlohmann::json& h) {
    h["__metadata__"] = {{"format", "pt"}};
  });
  auto f = SafetensorsFile::open(path);
  BOOST_REQUIRE_MESSAGE(f.ok(), f.status().to_string());
  BOOST_TEST((*f)->tensors().size() == 2u);
  BOOST_TEST((*f)->metadata().at("format") == "pt");
  const StTensorInfo* a = (*f)->find("a");
  BOOST_REQUIRE(a);
  BOOST_TEST((a->dtype == StDType::kF32));
  BOOST_TEST((a->shape == std::vector<int64_t>{2, 3}));
  const float* data = reinterpret_cast<const float*>((*f)->data(*a));
  BOOST_TEST(data[5] == 5.0f);
  BOOST_TEST(((*f)->find("b")->dtype == StDType::kBF16));
  BOOST_TEST(!(*f)->find("c"));
}

BOOST_AUTO_TEST_CASE(damaged_files_are_reported) {
  testing::TempDir dir;
  const std::string good = dir.path + "/good.safetensors";
  testing::write_safetensors(good, sample());
  const auto size = std::filesystem::file_size(good);

  BOOST_TEST(open_error(dir.path + "/missing.safetensors").code() == StatusCode::kNotFound);

  const std::string tiny = dir.path + "/tiny.safetensors";
  std::ofstream(tiny) << "abc";
  BOOST_TEST(mentions(open_error(tiny), "too short"));

  const std::string cut = dir.path + "/cut.safetensors";
  std::filesystem::copy_file(good, cut);
  std::filesystem::resize_file(cut, size - 10);
  Status s = open_error(cut);
  BOOST_TEST(s.code() == StatusCode::kCorruption);
  BOOST_TEST(mentions(s, "truncated"));
  BOOST_TEST(mentions(s, "cut.safetensors"));

  const std::string huge = dir.path + "/huge.safetensors";
  std::ofstream(huge, std::ios::binary)
      << std::string("\xff\xff\xff\xff\xff\xff\x00\x00", 8) << "{}";
  BOOST_TEST(mentions(open_error(huge), "header claims"));

  const std::string notjson = dir.path + "/notjson.safetensors";
  std::ofstream(notjson, std::ios::binary) << std::string("\x04\0\0\0\0\0\0\0", 8) << "{{{{";
  BOOST_TEST(mentions(open_error(notjson), "JSON"));

  const std::string liar = dir.path + "/liar.safetensors";
  testing::write_safetensors(liar, sample(), [](nlohmann::json& h) { h["a"]["shape"] = {3, 3}; });
  s = open_error(liar);
  BOOST_TEST(mentions(s, "tensor \"a\""));
  BOOST_TEST(mentions(s, "needs 36 bytes"));

  const std::string beyond = dir.path + "/beyond.safetensors";
  testing::write_safetensors(beyond, sample(), [](nlohmann::json& h) {
    h["b"]["data_offsets"] = {24, 4000};
  });
  BOOST_TEST(mentions(open_error(beyond), "tensor \"b\""));

  const std::string neg = dir.path + "/neg.safetensors";
  testing::write_safetensors(neg, sample(), [](nlohmann::json& h) { h["a"]["shape"] = {-2, 3}; });
  BOOST_TEST(mentions(open_error(neg), "negative"));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace pcache
