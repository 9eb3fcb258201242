// Admission: how many requests the server holds at once. A request that
// would exceed the limit is refused at once (429 with Retry-After) instead
// of waiting unseen in a socket queue; one admitted holds a Ticket until its
// generation ends, which may be after its HTTP response (a stream whose
// client left ends at its next token).
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

namespace pcache::server {

class Admission {
 public:
  explicit Admission(int64_t limit) : limit_(limit) {}

  // Releases its place when destroyed.
  class Ticket {
   public:
    explicit Ticket(Admission& a) : admission_(a) {}
    ~Ticket() { admission_.leave(); }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

   private:
    Admission& admission_;
  };

  // A place, or null when `limit` requests are in already or admission is closed.
  std::shared_ptr<Ticket> try_enter();
  // Refuses every request from now on (shutdown).
  void close();
  // Waits until no ticket is held, for at most `seconds`; true if none is.
  bool wait_idle(double seconds);
  int64_t in_flight() const;

 private:
  void leave();

  const int64_t limit_;
  mutable std::mutex mu_;
  std::condition_variable idle_;
  int64_t in_flight_ = 0;
  bool closed_ = false;
};

}  // namespace pcache::server
