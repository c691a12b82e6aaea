import { cells, columns } from "./format.js";

/**
 * The text of the JSON editor, as lines and a cursor. Pure functions: each returns a new buffer.
 * The cursor is an index into its line; it moves by whole characters (graphemes: an emoji, a
 * letter with its accents), and up/down keep its terminal column.
 */
export interface TextBuffer {
  lines: string[];
  row: number;
  col: number;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** Where the character (grapheme) before `col` starts: an emoji or an accented letter is one step. */
function prevStop(line: string, col: number): number {
  let stop = 0;
  for (const { index } of graphemes.segment(line)) {
    if (index >= col) break;
    stop = index;
  }
  return stop;
}

/** Where the character (grapheme) at `col` ends. */
function nextStop(line: string, col: number): number {
  for (const { index, segment } of graphemes.segment(line)) if (index + segment.length > col) return index + segment.length;
  return line.length;
}

export function fromText(text: string): TextBuffer {
  const lines = text.split("\n");
  return { lines, row: lines.length - 1, col: lines.at(-1)!.length };
}

export function toText(b: TextBuffer): string {
  return b.lines.join("\n");
}

/** Inserts typed or pasted text; line breaks in it (CR, LF or CRLF) split the line. */
export function insert(b: TextBuffer, text: string): TextBuffer {
  const parts = text.replace(/\r\n?/g, "\n").replace(/\t/g, "  ").split("\n");
  let out = b;
  parts.forEach((part, i) => {
    if (i > 0) out = splitLine(out, "");
    const line = out.lines[out.row]!;
    const lines = [...out.lines];
    lines[out.row] = line.slice(0, out.col) + part + line.slice(out.col);
    out = { lines, row: out.row, col: out.col + part.length };
  });
  return out;
}

/** Enter: splits the line, indenting the new one like the current (one step more after { or [). */
export function newline(b: TextBuffer): TextBuffer {
  const line = b.lines[b.row]!;
  const indent = /^\s*/.exec(line)![0];
  const opens = /[{[]\s*$/.test(line.slice(0, b.col));
  return splitLine(b, opens ? `${indent}  ` : indent);
}

function splitLine(b: TextBuffer, indent: string): TextBuffer {
  const line = b.lines[b.row]!;
  const lines = [...b.lines];
  lines.splice(b.row, 1, line.slice(0, b.col), indent + line.slice(b.col).trimStart());
  return { lines, row: b.row + 1, col: indent.length };
}

export function backspace(b: TextBuffer): TextBuffer {
  const lines = [...b.lines];
  if (b.col > 0) {
    const line = lines[b.row]!;
    const at = prevStop(line, b.col);
    lines[b.row] = line.slice(0, at) + line.slice(b.col);
    return { lines, row: b.row, col: at };
  }
  if (b.row === 0) return b;
  const prev = lines[b.row - 1]!;
  lines.splice(b.row - 1, 2, prev + lines[b.row]!);
  return { lines, row: b.row - 1, col: prev.length };
}

/** Deletes from the cursor to the end of the line (or joins the next line at its end). */
export function killLine(b: TextBuffer): TextBuffer {
  const lines = [...b.lines];
  const line = lines[b.row]!;
  if (b.col < line.length) lines[b.row] = line.slice(0, b.col);
  else if (b.row < lines.length - 1) lines.splice(b.row, 2, line + lines[b.row + 1]!);
  return { ...b, lines };
}

/** The index in `line` of the character at terminal column `col` (or the line's end), as the eye sees it under `col` on another line. */
function indexAtColumn(line: string, col: number): number {
  for (const c of cells(line)) if (c.col + c.width > col) return c.index;
  return line.length;
}

/** Up and down keep the terminal column, not the index: wide characters take two columns. */
function columnOf(line: string, index: number): number {
  return columns(cells(line.slice(0, index)).map((c) => c.text).join(""));
}

export type Move = "up" | "down" | "left" | "right" | "home" | "end";

export function move(b: TextBuffer, m: Move): TextBuffer {
  const len = (r: number) => b.lines[r]!.length;
  switch (m) {
    case "up":
      return b.row === 0 ? { ...b, col: 0 } : { ...b, row: b.row - 1, col: indexAtColumn(b.lines[b.row - 1]!, columnOf(b.lines[b.row]!, b.col)) };
    case "down":
      return b.row === b.lines.length - 1 ? { ...b, col: len(b.row) } : { ...b, row: b.row + 1, col: indexAtColumn(b.lines[b.row + 1]!, columnOf(b.lines[b.row]!, b.col)) };
    case "left":
      if (b.col > 0) return { ...b, col: prevStop(b.lines[b.row]!, b.col) };
      return b.row === 0 ? b : { ...b, row: b.row - 1, col: len(b.row - 1) };
    case "right":
      if (b.col < len(b.row)) return { ...b, col: nextStop(b.lines[b.row]!, b.col) };
      return b.row === b.lines.length - 1 ? b : { ...b, row: b.row + 1, col: 0 };
    case "home":
      return { ...b, col: 0 };
    case "end":
      return { ...b, col: len(b.row) };
  }
}
