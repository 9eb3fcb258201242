#!/usr/bin/env python3
"""pcache on a terminal: the command line's behaviour that only shows on a
pseudo-terminal (line editing, Ctrl-C, progress). Usage:

    terminal_test.py CASE PCACHE MODEL [FIXTURE_MODEL]

Each case drives the program through a pty as a user would, waits for what
it prints (never for a time), and exits 1 with the transcript on a mismatch.
Files are written in the working directory.
"""
import os
import pty
import re
import select
import subprocess
import sys
import termios

# The longest wait for one expected output: far beyond any real run, only so
# that a hang fails instead of blocking the suite.
TIMEOUT_S = 240


class Terminal:
    def __init__(self, argv):
        env = dict(os.environ, TERM="xterm", LC_ALL="C.UTF-8", COLUMNS="200", LINES="50")
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, env)
        self.out = b""
        self.seen = 0  # expect() matches after what it matched before

    def _read(self):
        ready, _, _ = select.select([self.fd], [], [], TIMEOUT_S)
        if not ready:
            fail(self, "no output for %d s" % TIMEOUT_S)
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the program closed the terminal
            data = b""
        self.out += data
        return data

    def expect(self, pattern):
        regex = re.compile(pattern, re.DOTALL)
        while True:
            m = regex.search(self.out, self.seen)
            if m:
                self.seen = m.end()
                return m
            if not self._read():
                fail(self, "ended before %r" % pattern)

    def send(self, data):
        os.write(self.fd, data)

    def type(self, data):
        """Sends keys once the line editor reads them (the terminal left
        canonical mode), as a user types at a prompt."""
        polls = 0
        while termios.tcgetattr(self.fd)[3] & termios.ICANON:
            polls += 1
            if polls > TIMEOUT_S * 100:
                fail(self, "the terminal stays in canonical mode at the prompt")
            select.select([], [], [], 0.01)
        self.send(data)

    def exit_code(self):
        while self._read():
            pass
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


def fail(term, why):
    state = ""
    try:  # what the program was doing: its terminal's mode and where it waited
        lflag = termios.tcgetattr(term.fd)[3]
        state = "terminal: icanon %d echo %d isig %d; " % (
            bool(lflag & termios.ICANON), bool(lflag & termios.ECHO), bool(lflag & termios.ISIG))
        with open("/proc/%d/wchan" % term.pid) as f:
            state += "program waits in " + f.read()
    except OSError:
        pass
    sys.stderr.write("not ok: %s\n%s\n--- transcript ---\n%s\n" %
                     (why, state, term.out.decode("utf-8", "replace")))
    sys.exit(1)


def check(term, cond, why):
    if not cond:
        fail(term, why)


def loaded_tokens(pcache, model, snapshot):
    """The conversation length a snapshot holds, as `chat --load` says."""
    out = subprocess.run([pcache, "chat", "-m", model, "--load", snapshot], input=b"",
                         capture_output=True, check=True).stderr.decode()
    return int(re.search(r"a conversation of (\d+) tokens", out).group(1))


def chat_interrupt(pcache, model):
    """Ctrl-C mid-answer stops it and keeps the conversation; Ctrl-C at the
    empty prompt ends the chat and writes --save; so does Ctrl-D."""
    for name in ["mid.pcs", "end.pcs", "eof.pcs", "one.pcs"]:
        if os.path.exists(name):
            os.remove(name)
    # An answer far longer than the test waits for (--ignore-eos).
    t = Terminal([pcache, "chat", "-m", model, "-n", "3000", "--ignore-eos", "--save", "end.pcs"])
    t.expect(rb"keys: .*\n> ")
    t.type(b"Where is the restaurant?\r")
    t.expect(rb"restaurant\?\r\n.{40}")  # the answer has started
    t.send(b"\x03")
    t.expect(rb"\(stopped; the answer so far is kept")
    t.expect(rb"> ")
    t.type(b"/save mid.pcs\r")
    t.expect(rb"saved to mid\.pcs")
    t.expect(rb"> ")
    t.type(b"\x03")
    t.expect(rb"\^C\r\n.*saved to end\.pcs")
    check(t, t.exit_code() == 0, "Ctrl-C at the empty prompt: exit code 0")
    # The same question answered with one token, for comparison.
    subprocess.run([pcache, "chat", "-m", model, "-n", "1", "--save", "one.pcs"],
                   input=b"Where is the restaurant?\n", capture_output=True, check=True)
    turn, one = loaded_tokens(pcache, model, "mid.pcs"), loaded_tokens(pcache, model, "one.pcs")
    check(t, turn > one, "the interrupted answer is in the saved conversation (%d tokens, a "
          "one-token answer %d)" % (turn, one))
    check(t, loaded_tokens(pcache, model, "end.pcs") == turn, "--save wrote the conversation")

    t = Terminal([pcache, "chat", "-m", model, "-n", "2", "--save", "eof.pcs"])
    t.expect(rb"keys: .*\n> ")
    t.type(b"\x04")
    t.expect(rb"saved to eof\.pcs")
    check(t, t.exit_code() == 0, "Ctrl-D: exit code 0")
    print("chat_interrupt: ok")


def chat_line_editing(pcache, model):
    """Arrow keys edit the line, the up arrow recalls the last one, a line
    ending in '\\' goes on, Ctrl-C drops what was typed."""
    if os.path.exists("ab.pcs"):
        os.remove("ab.pcs")
    t = Terminal([pcache, "chat", "-m", model, "-n", "2"])
    t.expect(rb"keys: .*\n> ")
    t.type(b"/save b.pcs" + b"\x1b[D" * 5 + b"a\r")  # left five times, then "a"
    t.expect(rb"saved to ab\.pcs")
    t.type(b"\x1b[A\r")  # the line before, again
    t.expect(rb"saved to ab\.pcs")
    t.type(b"Hi \\\r")
    t.expect(rb"\.\.\. ")
    t.type(b"there\r")
    t.expect(rb"there\r\n")
    t.expect(rb"> ")
    t.type(b"/undo\r")
    t.expect(rb'took back "Hi \r?\nthere" and its answer')
    t.type(b"not sent\x03")
    t.expect(rb"\^C")
    t.type(b"/undo\r")
    t.expect(rb"nothing to undo")  # "not sent" was no turn
    t.type(b"\x04")
    check(t, t.exit_code() == 0, "exit code 0")
    check(t, os.path.exists("ab.pcs"), "ab.pcs written")
    print("chat_line_editing: ok")


def progress(pcache, model, fixture):
    """Long commands show where they are on a terminal's stderr."""
    t = Terminal([pcache, "compile", "schemas/city_guide.xml", "-m", fixture])
    t.expect(rb"module 1 of 6 \(\(schema text\), 23 tokens\)")
    t.expect(rb"module 6 of 6 \(weather, 11 tokens\)")
    check(t, t.exit_code() == 0, "compile: exit code 0")
    t = Terminal([pcache, "bench", "-m", fixture, "--module-tokens", "32,64", "--new-tokens", "4",
                  "--warmup", "0", "--repeats", "1", "--decode-tokens", "0"])
    t.expect(rb"row 1 of 2 \(module 32, new 4\)")
    t.expect(rb"row 2 of 2 \(module 64, new 4\).*left")
    check(t, t.exit_code() == 0, "bench: exit code 0")
    t = Terminal([pcache, "eval", "tests/fixtures/eval-mini", "-m", fixture, "-n", "2", "--limit", "2"])
    t.expect(rb"question 1 of 2")
    t.expect(rb"question 2 of 2, exact so far: full [0-9.]+%, scaffold [0-9.]+%")
    check(t, t.exit_code() == 0, "eval: exit code 0")
    print("progress: ok")


if __name__ == "__main__":
    case, args = sys.argv[1], sys.argv[2:]
    {"chat_interrupt": chat_interrupt, "chat_line_editing": chat_line_editing,
     "progress": progress}[case](*args)
