import stringWidth from "string-width";

/**
 * Text for the TUI's cells. Everything that reaches the screen goes through clean() or fit(), so a
 * control character, a tab or a wide character in a sandbox's output can never shift or wrap a
 * line (which would tear the layout, most of all over SSH). fit() makes every character one
 * column; clean() keeps wide characters (CJK, emoji take two columns), so text from clean() is
 * measured in terminal columns, never in characters: columns(), wrapColumns(), wrapWords(), cells().
 */

import { clean } from "../text.js";

export { clean };

/** clean(), and anything outside printable ASCII as '?', for cells whose width we count. */
export function ascii(text: string): string {
  return clean(text).replace(/[^\x20-\x7e]/g, "?");
}

/** Pads or cuts `text` to exactly `width` columns; a cut is marked with '…' (as ink marks its own). */
export function fit(text: string, width: number, align: "left" | "right" = "left"): string {
  if (width <= 0) return "";
  const t = ascii(text);
  if (t.length > width) return `${t.slice(0, width - 1)}…`;
  return align === "right" ? t.padStart(width) : t.padEnd(width);
}

/** How many terminal columns `text` takes (wide characters two, combining marks none). */
export function columns(text: string): number {
  return stringWidth(text);
}

export interface Cell {
  /** What is drawn: one grapheme, through clean(). */
  text: string;
  /** Where the grapheme starts in the original string. */
  index: number;
  /** The terminal column it starts at, and how many it takes. */
  col: number;
  width: number;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });

/** `text` as graphemes with the columns each takes: the unit that lines are cut and wrapped at. */
export function cells(text: string): Cell[] {
  const out: Cell[] = [];
  let col = 0;
  for (const { segment, index } of graphemes.segment(text)) {
    const shown = clean(segment);
    const width = stringWidth(shown);
    out.push({ text: shown, index, col, width });
    col += width;
  }
  return out;
}

/**
 * The part of `text` between columns `from` and `to` (cleaned). A wide character cut by either
 * edge is not drawn half: a space stands for the half that is inside.
 */
export function sliceColumns(text: string, from: number, to: number): string {
  let out = "";
  for (const c of cells(text)) {
    const end = c.col + c.width;
    if (c.col >= to || end < from || (end === from && c.width > 0)) continue;
    if (c.col >= from && end <= to) out += c.text;
    else out += " ".repeat(Math.min(end, to) - Math.max(c.col, from));
  }
  return out;
}

/** Cuts `text` (cleaned) into rows of at most `width` columns; a wide character is never split. */
export function wrapColumns(text: string, width: number): string[] {
  const rows: string[] = [];
  let row = "";
  let used = 0;
  for (const c of cells(text)) {
    if (used + c.width > width && used > 0) {
      rows.push(row);
      row = "";
      used = 0;
    }
    row += c.text;
    used += c.width;
  }
  rows.push(row);
  return rows;
}

/**
 * Wraps a message (cleaned) at spaces into rows of at most `width` columns, as a person would read
 * it: the spaces where a row breaks are dropped, all others kept (indentation too); a word longer
 * than a row is cut at column boundaries. Line breaks in it are kept.
 */
export function wrapWords(text: string, width: number): string[] {
  const w = Math.max(1, width);
  const rows: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    let row = "";
    let used = 0;
    for (const token of clean(line).split(/( +)/)) {
      if (!token) continue;
      const tw = columns(token);
      if (used + tw <= w) {
        row += token;
        used += tw;
      } else if (token.startsWith(" ")) {
        rows.push(row);
        row = "";
        used = 0;
      } else {
        if (used > 0) rows.push(row.trimEnd());
        const parts = wrapColumns(token, w);
        rows.push(...parts.slice(0, -1));
        row = parts.at(-1)!;
        used = columns(row);
      }
    }
    rows.push(row);
  }
  return rows;
}

/** At most `max` rows; when some are left out, the last one shown ends with '…'. Rows are strings, or objects with their string in `text`. */
export function firstRows<T extends string | { text: string }>(rows: T[], max: number, width: number): T[] {
  if (rows.length <= max) return rows;
  const kept = rows.slice(0, Math.max(1, max));
  const last = kept.at(-1)!;
  const text = typeof last === "string" ? last : last.text;
  const cut = `${columns(text) < width ? text : sliceColumns(text, 0, width - 1)}…`;
  kept[kept.length - 1] = (typeof last === "string" ? cut : { ...(last as { text: string }), text: cut }) as T;
  return kept;
}

/** 59s, 12m03s, 3h04m, 2d05h. */
export function duration(totalSec: number): string {
  const s = Math.max(0, Math.floor(totalSec));
  if (s < 60) return `${s}s`;
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor((s % 86400) / 3600))}h`;
}

/** 512B, 640K, 45.6M, 1.2G (powers of 1024). */
export function bytes(n: number): string {
  const units = ["B", "K", "M", "G", "T"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v}B` : `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[i]}`;
}

/** "5s ago", "3h ago"; "never" for null. */
export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return "never";
  return `${duration((now - Date.parse(iso)) / 1000)} ago`;
}

/** "in 29d23h", "expired"; "never" for null. */
export function until(iso: string | null, now = Date.now()): string {
  if (!iso) return "never";
  const left = (Date.parse(iso) - now) / 1000;
  return left <= 0 ? "expired" : `in ${duration(left)}`;
}

/** HH:MM:SS in local time. */
export function clock(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "--:--:--";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Splits a command line as a POSIX shell would for words: quotes and backslashes, no expansion. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote === "'") {
      if (ch === "'") quote = null;
      else cur += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = null;
      else if (ch === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) cur += line[++i];
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      inWord = true;
    } else if (ch === "\\" && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unclosed ${quote === "'" ? "single" : "double"} quote`);
  if (inWord) words.push(cur);
  return words;
}

/** A divider with a title: "-- title ------". */
export function rule(title: string, width: number): string {
  const head = `-- ${ascii(title)} `;
  return head.length >= width ? fit(head, width) : head + "-".repeat(width - head.length);
}
