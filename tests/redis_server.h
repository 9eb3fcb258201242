// A real redis-server for tests: started on a free localhost port with a
// temporary directory (no persistence), stopped at the end; it can be
// killed and started again mid-test. Needs redis-server and redis-cli on
// PATH (scripts/setup.sh installs them). Header-only: its users link
// pcache_remote (cache/redis_client.h) anyway.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "cache/redis_client.h"
#include "testing.h"

namespace pcache::testing {

class RedisServer {
 public:
  RedisServer() : port_(free_port()) { start(); }
  ~RedisServer() { kill(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  RedisEndpoint endpoint() const {
    RedisEndpoint e;
    e.port = port_;
    return e;
  }

  // Starts the server (again) on the same port and waits until it answers PING.
  void start() {
    BOOST_REQUIRE_MESSAGE(pid_ <= 0, "redis-server already running");
    // Everything the child needs is made before the fork: it may allocate nothing.
    const std::string port = std::to_string(port_), log = dir_.path + "/redis.log";
    pid_ = ::fork();
    BOOST_REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      // The server dies with the test, even one that crashed, and holds none
      // of its output streams (ctest waits for those to close).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int err = ::fcntl(2, F_DUPFD_CLOEXEC, 3);
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1",
               "--dir", dir_.path.c_str(), "--save", "", "--appendonly", "no", "--logfile",
               log.c_str(), static_cast<char*>(nullptr));
      constexpr char kMissing[] = "cannot run redis-server (install it: scripts/setup.sh)\n";
      (void)!::write(err, kMissing, sizeof kMissing - 1);
      ::_exit(127);
    }
    for (int attempt = 0; attempt < 500; ++attempt) {
      if (ping()) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        BOOST_FAIL("redis-server exited at start (is it installed? scripts/setup.sh)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    BOOST_FAIL("redis-server did not answer on port " + port);
  }

  // SIGKILL, as a crash or an operator would.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }

  // redis-cli -p PORT ARGS (ARGS as the shell splits them); its output.
  std::string cli(const std::string& args) const {
    const std::string command = "redis-cli -p " + std::to_string(port_) + " " + args;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
    BOOST_REQUIRE(pipe);
    std::string out;
    std::array<char, 4096> buf;
    for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), pipe.get())) > 0;) out.append(buf.data(), n);
    return out;
  }

 private:
  static int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    BOOST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  bool ping() const {
    auto conn = RedisConnection::open(endpoint(), 200);
    if (!conn.ok()) return false;
    bool pong = false;
    Status s = (*conn)->pipeline({{"PING"}}, [&](size_t, const RedisReplyView& r) {
      pong = r.str == "PONG";
      return Status::ok_status();
    });
    return s.ok() && pong;
  }

  TempDir dir_;
  int port_;
  pid_t pid_ = 0;
};

}  // namespace pcache::testing
