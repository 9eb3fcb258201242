#include "server/admission.h"

#include <chrono>

namespace pcache::server {

std::shared_ptr<Admission::Ticket> Admission::try_enter() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_ || in_flight_ >= limit_) return nullptr;
  ++in_flight_;
  return std::make_shared<Ticket>(*this);
}

void Admission::leave() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--in_flight_ == 0) idle_.notify_all();
}

void Admission::close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
}

bool Admission::wait_idle(double seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_for(lock, std::chrono::duration<double>(seconds),
                        [this] { return in_flight_ == 0; });
}

int64_t Admission::in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

}  // namespace pcache::server
