// Measures what int8 snapshots cost and save: file size against the model's
// dtype, load time, and the effect on the next token after a turn that
// attends to the quantized states (max abs logit difference, top-1 agreement).
//
//   snapshot_int8 MODEL_DIR [--device D] [--dtype T] [--tokens N]
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "bench_common.h"
#include "pcache/engine.h"

namespace {

using pcache::bench::ms_since;
using pcache::bench::must;

int argmax(const std::vector<float>& v) { return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin()); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [--device D] [--dtype T] [--tokens N]\n", argv[0]);
    return 2;
  }
  pcache::EngineOptions options;
  int words = 400;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    pcache::bench::engine_flag(flag, argv[i + 1], options);
    if (flag == "--tokens") words = std::atoi(argv[i + 1]);
  }
  auto engine = must(pcache::Engine::open(argv[1], options));
  std::string text;
  for (int i = 0; i < words; ++i) text += "word" + std::to_string(i % 97) + " ";
  // POSIX calls, not std::filesystem: PyTorch's wheels export an older
  // libstdc++'s filesystem symbols, which crash when called from here.
  char dir_template[] = "/tmp/pcache-int8-bench-XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string plain = dir + "/plain.pcs", small = dir + "/int8.pcs";
  auto file_size = [](const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : int64_t{0};
  };
  pcache::SamplingOptions greedy;
  greedy.max_tokens = 1;
  const std::vector<std::string> turns = {"What comes next?", "Repeat the first word.", "Count the words.",
                                          "Say something else.", "Which word is most frequent?"};
  double worst = 0;
  int agree = 0;
  double plain_ms = 0, int8_ms = 0;
  int64_t plain_bytes = 0, int8_bytes = 0, tokens = 0;
  for (const auto& turn : turns) {
    auto state = must(engine->cache_chat({{"system", text}}));
    tokens = state.tokens;
    if (!engine->save(state.state, plain).ok() || !engine->save(state.state, small, true).ok()) return 1;
    plain_bytes = file_size(plain);
    int8_bytes = file_size(small);
    auto t0 = std::chrono::steady_clock::now();
    auto a = must(engine->load(plain));
    plain_ms += ms_since(t0);
    t0 = std::chrono::steady_clock::now();
    auto b = must(engine->load(small));
    int8_ms += ms_since(t0);
    auto la = must(engine->next_token_logits(must(engine->chat_completion(a, turn, greedy)).state));
    auto lb = must(engine->next_token_logits(must(engine->chat_completion(b, turn, greedy)).state));
    double diff = 0;
    for (size_t i = 0; i < la.size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(la[i] - lb[i])));
    worst = std::max(worst, diff);
    agree += argmax(la) == argmax(lb);
    for (auto id : {a, b, state.state}) (void)engine->release(id);
  }
  std::printf("%s\n", engine->describe().c_str());
  std::printf("state of %lld tokens: file %lld bytes, int8 %lld bytes (%.2fx smaller)\n", static_cast<long long>(tokens),
              static_cast<long long>(plain_bytes), static_cast<long long>(int8_bytes),
              static_cast<double>(plain_bytes) / int8_bytes);
  std::printf("load: %.2f ms plain, %.2f ms int8 (mean of %zu)\n", plain_ms / turns.size(), int8_ms / turns.size(),
              turns.size());
  std::printf("next token after a turn on the loaded state: max abs logit difference %.4g, top-1 agreement %d/%zu\n",
              worst, agree, turns.size());
  ::unlink(plain.c_str());
  ::unlink(small.c_str());
  ::rmdir(dir.c_str());
  return 0;
}
