// LineReader: the lines a user types into `pcache chat`. On a terminal it
// edits them with libedit (arrow keys, emacs or ~/.editrc bindings, history
// of this session), continues a line that ends in '\' on the next one, and
// takes Ctrl-C as a key: it clears a line being typed, and at an empty
// prompt it ends the input. Elsewhere (a pipe, a file) each line is read as
// it is, as scripts expect.
#pragma once

#include <memory>
#include <string>

namespace pcache::cli {

class LineReader {
 public:
  // Edits lines when standard input and standard error are both terminals.
  LineReader();
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  bool editing() const { return editor_ != nullptr; }

  enum class Result { kLine, kEnd, kInterrupted };
  // kLine: `line` is the next input (continued lines joined with '\n').
  // kEnd: end of input (Ctrl-D at an empty prompt). kInterrupted: Ctrl-C at
  // an empty prompt.
  Result read(std::string* line);

 private:
  struct Editor;
  std::unique_ptr<Editor> editor_;
};

}  // namespace pcache::cli
