// The smallest pcache program: open a checkpoint, ask one chat question,
// stream the answer. Uses only the public API (include/pcache).
//
//   ./build/examples/hello_generate MODEL_DIR "your question"
#include <cstdio>

#include "pcache/engine.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL_DIR QUESTION\n", argv[0]);
    return 2;
  }
  auto engine = pcache::Engine::open(argv[1]);  // CPU, float32; see EngineOptions
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.status().to_string().c_str());
    return 1;
  }
  pcache::SamplingOptions sampling;
  sampling.max_tokens = 32;
  auto answer =
      (*engine)->generate_chat({{"user", argv[2]}}, sampling, [](const std::string& piece) {
        std::fputs(piece.c_str(), stdout);
        std::fflush(stdout);
        return true;  // keep going
      });
  if (!answer.ok()) {
    std::fprintf(stderr, "%s\n", answer.status().to_string().c_str());
    return 1;
  }
  std::printf("\n[%d prompt tokens, first token after %.1f ms, %.1f tokens/s]\n",
              answer->timings.prompt_tokens, answer->timings.prefill_ms,
              answer->timings.decode_tokens_per_s());
  return 0;
}
