// The main() of a fuzz target in the normal (g++) build: a deterministic,
// seeded mutation fuzzer over the seed corpus, so that CI runs every target a
// few thousand times on each push. Long runs use libFuzzer (scripts/fuzz.sh),
// which links the same targets without this file.
//
//   <target>_fuzz [--runs N] [--seed S] [--max-len BYTES] [--memory-mb MB]
//                 [--rss-limit-mb MB] [--timeout-s T] [--crash-dir DIR] PATH...
//
// Every file under the PATHs is run as it is, then N mutants of them (1 to 4
// stacked mutations each: bit flips, byte changes, inserts, deletes, chunk
// duplication, splicing two inputs, interesting integers in binary and in
// text). The same seed and corpus give the same inputs on every machine.
//
// A crash, an abort (an uncaught exception included), a sanitizer report, an
// input running past --timeout-s (20), or one taking the peak resident memory
// past --rss-limit-mb (2048) ends the run with a nonzero status after writing
// the input to DIR/crash-<target>-<seed>, which the same program runs again
// as a PATH. Outside ASan the address space is also capped at --memory-mb
// (4096), so that an input asking for more fails at once rather than swapping
// (a reader that catches the bad_alloc passes, unless it touched more than
// the RSS limit first); ASan has its own limits (max_allocation_size_mb).
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));
// Present when a sanitizer runtime is linked in.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace {

namespace fs = std::filesystem;

// splitmix64: tiny, and the same on every platform (unlike <random>'s
// distributions).
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
};

using Bytes = std::vector<uint8_t>;

constexpr uint64_t kInterestingInts[] = {
    0,          1,          0x7f,       0x80,       0xff,       0x7fff,
    0x8000,     0xffff,     0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull,
    0x7fffffffffffffffull,  0x8000000000000000ull,  0xffffffffffffffffull,
    0xfffffffffffffffeull,  // -2
    1ull << 40, 4096,       65536,      1u << 20,
};

// Text that parsers of numbers, JSON, YAML and XML tend to mishandle.
const char* const kInterestingText[] = {
    "1e400", "-1e400", "1e-400", "-1", "-0", "0", "2147483647", "2147483648", "-2147483649",
    "4294967296", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    "18446744073709551616", "99999999999999999999", "65536", "1048576", "0x7fffffff",
    "NaN", "nan", "inf", "-inf", "Infinity", ".inf", "1.5", "1e3", "true", "null", "~", "[]",
    "{}", "\"\"", "\"", "'", "\\", "\\u0000", "\\ud800", "&amp;", "&#0;", "&#xFFFFFF;", "&x;",
    "<![CDATA[", "]]>", "<!--", "-->", "<?xml version=\"1.0\"?>",
    "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/hostname\">]>", "&e;", "<", ">", "/>",
    "=\"", ":", ": ", "- ", "\n", "\r\n", "\t", "  ", "*a", "&a ", "!!binary", "!!int", "%", "#",
    "\xef\xbb\xbf", "\xff", "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", ""};

const Bytes& as_bytes_of(const char* s, Bytes* out) {
  out->assign(s, s + std::max<size_t>(1, std::strlen(s)));  // "" is one NUL byte
  return *out;
}

// One random change of `in` (`corpus` supplies splice partners).
void mutate_once(Bytes* in, const std::vector<Bytes>& corpus, Rng* rng) {
  Bytes& b = *in;
  switch (rng->below(11)) {
    case 0:  // flip a bit
      if (!b.empty()) b[rng->below(b.size())] ^= static_cast<uint8_t>(1u << rng->below(8));
      break;
    case 1:  // set a byte
      if (!b.empty()) b[rng->below(b.size())] = static_cast<uint8_t>(rng->next());
      break;
    case 2: {  // insert random bytes
      Bytes r(1 + rng->below(8));
      for (auto& c : r) c = static_cast<uint8_t>(rng->next());
      b.insert(b.begin() + rng->below(b.size() + 1), r.begin(), r.end());
      break;
    }
    case 3: {  // delete a chunk
      if (b.empty()) break;
      size_t at = rng->below(b.size());
      size_t n = std::min(b.size() - at, 1 + rng->below(rng->below(2) ? 16 : 256));
      b.erase(b.begin() + at, b.begin() + at + n);
      break;
    }
    case 4: {  // duplicate a chunk somewhere else
      if (b.empty()) break;
      size_t at = rng->below(b.size());
      size_t n = std::min(b.size() - at, 1 + rng->below(64));
      Bytes chunk(b.begin() + at, b.begin() + at + n);
      size_t times = rng->below(8) == 0 ? 1 + rng->below(64) : 1;
      size_t to = rng->below(b.size() + 1);
      for (size_t i = 0; i < times; ++i) b.insert(b.begin() + to, chunk.begin(), chunk.end());
      break;
    }
    case 5: {  // splice: a prefix of this, a suffix of another
      const Bytes& other = corpus[rng->below(corpus.size())];
      size_t keep = rng->below(b.size() + 1);
      size_t from = rng->below(other.size() + 1);
      b.resize(keep);
      b.insert(b.end(), other.begin() + from, other.end());
      break;
    }
    case 6: {  // an interesting integer, little-endian, 1/2/4/8 bytes
      uint64_t v = kInterestingInts[rng->below(std::size(kInterestingInts))];
      size_t width = size_t{1} << rng->below(4);
      if (b.size() < width) break;
      size_t at = rng->below(b.size() - width + 1);
      for (size_t i = 0; i < width; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
      break;
    }
    case 7:
    case 8: {  // replace a run of digits (or insert, when none) with interesting text
      Bytes t;
      as_bytes_of(kInterestingText[rng->below(std::size(kInterestingText))], &t);
      std::vector<size_t> starts;
      for (size_t i = 0; i < b.size(); ++i) {
        bool digit = b[i] >= '0' && b[i] <= '9';
        if (digit && (i == 0 || !(b[i - 1] >= '0' && b[i - 1] <= '9'))) starts.push_back(i);
      }
      if (starts.empty() || rng->below(3) == 0) {
        b.insert(b.begin() + rng->below(b.size() + 1), t.begin(), t.end());
      } else {
        size_t at = starts[rng->below(starts.size())], end = at;
        while (end < b.size() && b[end] >= '0' && b[end] <= '9') ++end;
        b.erase(b.begin() + at, b.begin() + end);
        b.insert(b.begin() + at, t.begin(), t.end());
      }
      break;
    }
    case 9: {  // copy a chunk of another input over this one
      const Bytes& other = corpus[rng->below(corpus.size())];
      if (other.empty() || b.empty()) break;
      size_t from = rng->below(other.size());
      size_t n = std::min(other.size() - from, 1 + rng->below(32));
      size_t at = rng->below(b.size());
      n = std::min(n, b.size() - at);
      std::copy(other.begin() + from, other.begin() + from + n, b.begin() + at);
      break;
    }
    default:  // truncate
      b.resize(rng->below(b.size() + 1));
      break;
  }
}

// What the crash handlers write: set before each input, read only from them.
struct Current {
  const uint8_t* data = nullptr;
  size_t size = 0;
  char path[4096] = {};
  char label[256] = {};
} g_current;

void write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w <= 0) return;
    c += w;
    n -= static_cast<size_t>(w);
  }
}

// Async-signal-safe: open, write, close only.
void save_current_input() {
  static volatile sig_atomic_t saved = 0;
  if (saved) return;
  saved = 1;
  const char* lines[] = {"\nfuzz: failed on ", g_current.label, "; input written to ",
                         g_current.path, "\n"};
  for (const char* l : lines) write_all(2, l, std::strlen(l));
  int fd = ::open(g_current.path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  write_all(fd, g_current.data, g_current.size);
  ::close(fd);
}

void on_signal(int sig) {
  if (sig == SIGALRM) {
    const char m[] = "\nfuzz: input ran past --timeout-s\n";
    write_all(2, m, sizeof m - 1);
  }
  save_current_input();
  signal(sig == SIGALRM ? SIGABRT : sig, SIG_DFL);
  raise(sig == SIGALRM ? SIGABRT : sig);
}

[[noreturn]] void on_terminate() {
  if (std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::fprintf(stderr, "fuzz: uncaught exception: %s\n", x.what());
    } catch (...) {
      std::fprintf(stderr, "fuzz: uncaught exception of an unknown type\n");
    }
  }
  std::abort();
}

void install_handlers(bool sanitized) {
  std::set_terminate(on_terminate);
  if (sanitized) __sanitizer_set_death_callback(save_current_input);
  // The sanitizer reports (and handles) faults itself; aborts and timeouts are ours.
  std::vector<int> signals = {SIGABRT, SIGALRM};
  if (!sanitized) signals.insert(signals.end(), {SIGSEGV, SIGBUS, SIGFPE, SIGILL});
  for (int s : signals) {
    struct sigaction sa = {};
    sa.sa_handler = on_signal;
    sigaction(s, &sa, nullptr);
  }
}

[[noreturn]] void usage(const char* argv0, const std::string& why) {
  std::fprintf(stderr,
               "%s: %s\nusage: %s [--runs N] [--seed S] [--max-len BYTES] [--memory-mb MB] "
               "[--rss-limit-mb MB] [--timeout-s T] [--crash-dir DIR] PATH...\n",
               argv0, why.c_str(), argv0);
  std::exit(2);
}

void add_inputs(const fs::path& p, std::vector<fs::path>* files) {
  if (fs::is_directory(p)) {
    std::vector<fs::path> here;
    for (const auto& e : fs::recursive_directory_iterator(p)) {
      if (e.is_regular_file()) here.push_back(e.path());
    }
    std::sort(here.begin(), here.end());  // directory order is not deterministic
    files->insert(files->end(), here.begin(), here.end());
  } else if (fs::is_regular_file(p)) {
    files->push_back(p);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string target = fs::path(argv[0]).filename().string();
  uint64_t runs = 2000, seed = 1;
  size_t max_len = 64 << 10;
  uint64_t memory_mb = 4096, rss_limit_mb = 2048;
  unsigned timeout_s = 20;
  std::string crash_dir = ".";
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(argv[0], a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--runs") {
        runs = std::stoull(value());
      } else if (a == "--seed") {
        seed = std::stoull(value());
      } else if (a == "--max-len") {
        max_len = std::stoull(value());
      } else if (a == "--memory-mb") {
        memory_mb = std::stoull(value());
      } else if (a == "--rss-limit-mb") {
        rss_limit_mb = std::stoull(value());
      } else if (a == "--timeout-s") {
        timeout_s = static_cast<unsigned>(std::stoul(value()));
      } else if (a == "--crash-dir") {
        crash_dir = value();
      } else if (a.rfind("--", 0) == 0) {
        usage(argv[0], "unknown option " + a);
      } else {
        if (!fs::exists(a)) usage(argv[0], a + ": no such file or folder");
        add_inputs(a, &files);
      }
    } catch (const std::logic_error&) {
      usage(argv[0], a + " needs a number");
    }
  }
  if (files.empty()) usage(argv[0], "no input files");

  std::vector<Bytes> corpus;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    Bytes b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (b.size() > max_len) b.resize(max_len);
    corpus.push_back(std::move(b));
  }

  const bool sanitized = __sanitizer_set_death_callback != nullptr;
  if (!sanitized && memory_mb > 0) {
    // The inputs' memory and libtorch's alike; ASan reserves terabytes of
    // address space and has its own limits (ASAN_OPTIONS).
    rlimit lim = {memory_mb << 20, memory_mb << 20};
    if (setrlimit(RLIMIT_AS, &lim) != 0) std::perror("fuzz: setrlimit");
  }
  install_handlers(sanitized);
  std::snprintf(g_current.path, sizeof g_current.path, "%s/crash-%s-%" PRIu64, crash_dir.c_str(),
                target.c_str(), seed);
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);

  auto run_one = [&](const Bytes& input) {
    g_current.data = input.data();
    g_current.size = input.size();
    alarm(timeout_s);
    LLVMFuzzerTestOneInput(input.data(), input.size());
    alarm(0);
    rusage usage = {};
    getrusage(RUSAGE_SELF, &usage);  // the peak so far: the first input past the limit is the one
    if (rss_limit_mb > 0 && static_cast<uint64_t>(usage.ru_maxrss) > rss_limit_mb * 1024) {
      std::fprintf(stderr, "fuzz: peak resident memory %ld MB, past --rss-limit-mb %" PRIu64 "\n",
                   usage.ru_maxrss / 1024, rss_limit_mb);
      save_current_input();
      std::exit(1);
    }
  };
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < corpus.size(); ++i) {
    std::snprintf(g_current.label, sizeof g_current.label, "%s", files[i].c_str());
    run_one(corpus[i]);
  }
  Rng rng{seed};
  Bytes input;
  for (uint64_t n = 0; n < runs; ++n) {
    const size_t from = rng.below(corpus.size());
    input = corpus[from];
    for (size_t k = 1 + rng.below(4); k > 0; --k) mutate_once(&input, corpus, &rng);
    if (input.size() > max_len) input.resize(max_len);
    std::snprintf(g_current.label, sizeof g_current.label, "mutant %" PRIu64 " (seed %" PRIu64
                  ") of %s", n, seed, files[from].c_str());
    run_one(input);
  }
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %zu files and %" PRIu64 " mutants (seed %" PRIu64 ") in %.1f s, no crash\n",
              target.c_str(), corpus.size(), runs, seed, s);
  return 0;
}
