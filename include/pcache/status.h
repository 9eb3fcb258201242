// Status and StatusOr<T>: how every fallible pcache call reports failure.
//
// Contract: pcache never throws across its public API. A call that can fail
// returns a Status (or a StatusOr<T> holding either a value or a non-ok
// Status). Messages name what failed and where (file, tensor, key, line).
// Both types are cheap to move, and are safe to share between threads when
// not mutated.
#pragma once

#include <cassert>
#include <iosfwd>
#include <string>
#include <utility>
#include <variant>

namespace pcache {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller passed something malformed or out of range
  kNotFound,            // a file, tensor, name or handle does not exist
  kIoError,             // the operating system refused a read or write
  kCorruption,          // a file exists but its content is damaged or lies
  kUnsupported,         // well-formed, but pcache does not handle it
  kFailedPrecondition,  // the object is not in a state to do this
  kResourceExhausted,   // a budget or a device ran out of memory
  kInternal,            // a bug in pcache or a library under it
  kCancelled,           // the caller (or the engine closing) stopped the request
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }
  static Status invalid_argument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
  static Status failed_precondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status resource_exhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "Corruption: model.safetensors: tensor 'x' ..." or "OK".
  std::string to_string() const;

  // Returns a copy whose message is "context: message" (same code).
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

const char* status_code_name(StatusCode code);
std::ostream& operator<<(std::ostream& os, StatusCode code);

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : data_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(data_).ok() && "StatusOr built from an ok Status");
  }
  StatusOr(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(data_); }
  Status status() const { return ok() ? Status::ok_status() : std::get<Status>(data_); }

  // Only valid when ok().
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<Status, T> data_;
};

}  // namespace pcache

#define PCACHE_CONCAT_INNER_(a, b) a##b
#define PCACHE_CONCAT_(a, b) PCACHE_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (a Status) is not ok.
#define PCACHE_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::pcache::Status pcache_status_ = (expr);        \
    if (!pcache_status_.ok()) return pcache_status_; \
  } while (0)

// `lhs = value of expr` (a StatusOr), or returns its Status from the enclosing function.
#define PCACHE_ASSIGN_OR_RETURN(lhs, expr) \
  PCACHE_ASSIGN_OR_RETURN_IMPL_(PCACHE_CONCAT_(pcache_statusor_, __LINE__), lhs, expr)
#define PCACHE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
