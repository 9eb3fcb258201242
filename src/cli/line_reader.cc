#include "cli/line_reader.h"

#include <histedit.h>
#include <termios.h>
#include <unistd.h>

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace pcache::cli {

struct LineReader::Editor {
  EditLine* el = nullptr;
  History* history = nullptr;
  const char* prompt = "> ";
  bool cancelled = false;  // Ctrl-C during the last el_gets

  ~Editor() {
    if (el) el_end(el);
    if (history) history_end(history);
  }

  static Editor* of(EditLine* el) {
    void* data = nullptr;
    el_get(el, EL_CLIENTDATA, &data);
    return static_cast<Editor*>(data);
  }
  static char* prompt_of(EditLine* el) { return const_cast<char*>(of(el)->prompt); }
  // Bound to Ctrl-C: ends the line being edited, marked as cancelled.
  static unsigned char cancel(EditLine* el, int) {
    of(el)->cancelled = true;
    const LineInfo* line = el_line(el);
    el_cursor(el, static_cast<int>(line->lastchar - line->cursor));  // "^C" goes after the text
    return CC_NEWLINE;
  }
};

namespace {

// Whether the terminal turns Ctrl-C into SIGINT. libedit leaves cooked mode
// only when it reads the first key, after the prompt shows: without ISIG
// from before the prompt, a Ctrl-C typed at once is a key too.
void set_isig(bool on) {
  termios t;
  if (tcgetattr(STDIN_FILENO, &t) != 0) return;
  t.c_lflag = on ? (t.c_lflag | ISIG) : (t.c_lflag & ~ISIG);
  tcsetattr(STDIN_FILENO, TCSADRAIN, &t);
}

}  // namespace

LineReader::LineReader() {
  if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO)) return;
  // libedit decodes keys by the locale's character set; chat text is UTF-8.
  if (!std::setlocale(LC_CTYPE, "") || MB_CUR_MAX == 1) std::setlocale(LC_CTYPE, "C.UTF-8");
  auto e = std::make_unique<Editor>();
  // The prompt and the line being edited go to stderr: stdout carries answers only.
  e->el = el_init("pcache", stdin, stderr, stderr);
  e->history = history_init();
  if (e->el == nullptr || e->history == nullptr) return;  // plain lines then
  HistEvent event;
  history(e->history, &event, H_SETSIZE, 1000);
  history(e->history, &event, H_SETUNIQUE, 1);
  el_set(e->el, EL_CLIENTDATA, e.get());
  el_set(e->el, EL_EDITOR, "emacs");
  el_set(e->el, EL_SIGNAL, 1);  // the terminal restored on Ctrl-Z, redrawn on resize
  el_set(e->el, EL_PROMPT, &Editor::prompt_of);
  el_set(e->el, EL_HIST, history, e->history);
  // While a line is edited Ctrl-C is a key, not SIGINT: the line is cleared
  // where it was typed, and no signal can land between two reads.
  el_set(e->el, EL_SETTY, "-d", "-isig", nullptr);
  el_set(e->el, EL_ADDFN, "pcache-cancel", "clear the line; at an empty prompt, end the input",
         &Editor::cancel);
  el_set(e->el, EL_BIND, "^C", "pcache-cancel", nullptr);
  el_source(e->el, nullptr);  // ~/.editrc
  editor_ = std::move(e);
}

LineReader::~LineReader() = default;

LineReader::Result LineReader::read(std::string* line) {
  line->clear();
  if (!editor_) return std::getline(std::cin, *line) ? Result::kLine : Result::kEnd;
  bool continued = false;  // the last line ended in '\'
  for (;;) {
    editor_->prompt = continued ? "... " : "> ";
    editor_->cancelled = false;
    int count = 0;
    set_isig(false);
    const char* got = el_gets(editor_->el, &count);
    set_isig(true);  // Ctrl-C during the answer is SIGINT again
    if (editor_->cancelled) {
      std::fputs("^C\n", stderr);
      if (!continued && count <= 0) return Result::kInterrupted;
      line->clear();  // what was typed is dropped; a fresh prompt follows
      continued = false;
      continue;
    }
    if (got == nullptr || count <= 0) {
      std::fputs("\n", stderr);  // Ctrl-D: the shell's prompt on a line of its own
      return Result::kEnd;
    }
    std::string text(got, static_cast<size_t>(count));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (!text.empty()) {
      HistEvent event;
      history(editor_->history, &event, H_ENTER, text.c_str());
    }
    continued = !text.empty() && text.back() == '\\';
    if (!continued) {
      *line += text;
      return Result::kLine;
    }
    text.pop_back();
    *line += text + "\n";
  }
}

}  // namespace pcache::cli
