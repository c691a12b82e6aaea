import t from "tap";
import { VtScreen } from "../helpers/vt-screen.js";

// The TUI tests read the screen through VtScreen; these pin down the parts of it they rely on.

t.test("text, line feeds, carriage returns and auto-wrap at the right edge", async (t) => {
  const s = new VtScreen(10, 3);
  s.write("hello\r\nworld");
  t.equal(s.text(), "hello\nworld\n");
  s.write("\r\n0123456789X");
  t.equal(s.text(), "world\n0123456789\nX", "the 11th character wrapped and scrolled the screen up");
  const full = new VtScreen(4, 2);
  full.write("abcd\r\nefgh");
  t.equal(full.text(), "abcd\nefgh", "writing the last column does not scroll by itself");
});

t.test("cursor movement, erase in line and display, clear + home as ink sends it", async (t) => {
  const s = new VtScreen(8, 4);
  s.write("aaaa\r\nbbbb\r\ncccc");
  s.write("\x1b[2A\x1b[2G\x1b[K");
  t.equal(s.text(), "a\nbbbb\ncccc\n");
  s.write("\x1b[3;3Hxy");
  t.equal(s.line(2), "ccxy");
  s.write("\x1b[2J\x1b[3J\x1b[Hnew");
  t.equal(s.text(), "new\n\n\n");
  s.write("\x1b[1;5H\x1b[1K");
  t.equal(s.line(0), "", "erase to the start of the line");
});

t.test("colours are dropped, OSC strings skipped, sequences split across writes completed", async (t) => {
  const s = new VtScreen(20, 2);
  s.write("\x1b[7m\x1b[1mbold\x1b[22m\x1b[27m \x1b]52;c;aGVsbG8=\x07ok");
  t.equal(s.line(0), "bold ok");
  s.write("\x1b[");
  s.write("2;1Hsecond");
  t.equal(s.line(1), "second");
});

t.test("the alternate screen keeps the main one", async (t) => {
  const s = new VtScreen(10, 2);
  s.write("shell$");
  s.write("\x1b[?1049h\x1b[HTUI");
  t.equal(s.line(0), "TUI");
  s.write("\x1b[?1049l");
  t.equal(s.line(0), "shell$");
});

t.test("resize keeps what fits", async (t) => {
  const s = new VtScreen(10, 3);
  s.write("0123456789\r\nabc");
  s.resize(5, 2);
  t.equal(s.text(), "01234\nabc");
});
