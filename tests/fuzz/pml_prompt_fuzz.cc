// Fuzz target: a PML prompt, parsed and bound to the schema it names among
// the repository's (schemas/*.xml, tests/pml/bind_errors/schema.xml).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "pml/pml.h"

namespace {

std::vector<pcache::pml::Schema> load_schemas() {
  namespace fs = std::filesystem;
  const std::string src = pcache::fuzz::source_dir();
  std::vector<std::string> paths = {src + "/tests/pml/bind_errors/schema.xml"};
  for (const auto& e : fs::directory_iterator(src + "/schemas")) paths.push_back(e.path().string());
  std::vector<pcache::pml::Schema> schemas;
  for (const auto& p : paths) {
    auto s = pcache::pml::load_schema(p);
    if (!s.ok()) {
      std::fprintf(stderr, "fuzz: %s\n", s.status().to_string().c_str());
      std::abort();
    }
    schemas.push_back(std::move(s).value());
  }
  return schemas;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcache;
  static const std::vector<pml::Schema> schemas = load_schemas();
  auto prompt = pml::parse_prompt(std::string(reinterpret_cast<const char*>(data), size),
                                  fuzz::temp_dir() + "/prompt.xml");
  if (!prompt.ok()) return 0;
  for (const pml::Schema& s : schemas) {
    if (s.name == prompt->schema) (void)pml::bind(s, *prompt);
  }
  // A schema of another name must be refused, never crash.
  (void)pml::bind(schemas.front(), *prompt);
  return 0;
}
