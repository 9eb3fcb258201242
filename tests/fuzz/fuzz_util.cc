#include "fuzz/fuzz_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "util/file_util.h"

namespace pcache::fuzz {

std::string source_dir() { return PCACHE_SOURCE_DIR; }

std::string fixtures_dir() {
  if (const char* env = std::getenv("PCACHE_FIXTURES"); env && *env) return env;
  return PCACHE_FIXTURES_DIR;
}

const std::string& temp_dir() {
  struct Dir {
    std::string path;
    Dir() {
      std::string pattern = (std::filesystem::temp_directory_path() / "pcache-fuzz-XXXXXX").string();
      if (mkdtemp(pattern.data()) == nullptr) {
        std::perror("fuzz: mkdtemp");
        std::abort();
      }
      path = pattern;
    }
    ~Dir() { (void)remove_tree(path); }
  };
  static const Dir dir;
  return dir.path;
}

std::string write_temp_file(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = temp_dir() + "/" + name;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  bool ok = fd >= 0;
  for (size_t done = 0; ok && done < size;) {
    ssize_t n = ::write(fd, data + done, size - done);
    ok = n > 0;
    done += ok ? static_cast<size_t>(n) : 0;
  }
  if (fd < 0 || ::close(fd) != 0 || !ok) {
    std::perror(("fuzz: writing " + path).c_str());
    std::abort();
  }
  return path;
}

}  // namespace pcache::fuzz
