// Fuzz target: a PML schema, parsed and (when valid) laid out with the tiny
// models' tokenizer, as `pcache compile` would before encoding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "compiler/layout.h"
#include "fuzz/fuzz_tokenizer.h"
#include "pml/pml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pcache;
  const Tokenizer& tok = fuzz::tokenizer();
  static const bool included = [] {  // what corpus/pml_schema/tiny-src.xml includes
    const std::string text = "Included text.";
    fuzz::write_temp_file("module.txt", reinterpret_cast<const uint8_t*>(text.data()), text.size());
    return true;
  }();
  (void)included;
  // Labelled inside the temp folder, so that src="..." resolves there.
  auto schema = pml::parse_schema(std::string(reinterpret_cast<const char*>(data), size),
                                  fuzz::temp_dir() + "/schema.xml");
  if (schema.ok()) {
    for (ChatTemplate t : {ChatTemplate::kMistral, ChatTemplate::kLlama2}) {
      (void)build_layout(*schema, tok, t);
    }
  }
  return 0;
}
