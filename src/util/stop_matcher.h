// StopMatcher: the `stop` strings of a request, found in text that arrives
// in pieces. Text that could be the start of a stop string is held back
// until the next piece shows whether it is, so that a streamed answer never
// shows part of a stop string and ends exactly before the first one.
//
// Not thread-safe; one per request (pcache serve) or answer (the command line).
#pragma once

#include <string>
#include <vector>

namespace pcache {

class StopMatcher {
 public:
  // Empty strings are ignored (the request parser refuses them).
  explicit StopMatcher(std::vector<std::string> stops);

  // Adds a piece; returns the text that may be shown now. Once a stop string
  // is found, stopped() is true, the text before it has been returned, and
  // later pieces are dropped.
  std::string push(const std::string& piece);
  // The end of the answer: whatever was held back.
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace pcache
