import { useRef } from "react";
import { Box, Text } from "ink";
import { useViewInput } from "./hooks.js";
import { cells, columns, sliceColumns } from "./format.js";
import { backspace, insert, killLine, move, newline, type TextBuffer } from "./text-buffer.js";

export const EDITOR_KEYS: [string, string][] = [
  ["^S", "send"],
  ["esc", "back"],
  ["arrows", "move"],
  ["^A/^E", "line start/end"],
  ["^K", "cut to end"],
];

const BURST_CONTROLS: Record<string, (b: TextBuffer) => TextBuffer> = {
  "\n": (b) => insert(b, "\n"),
  "\t": (b) => insert(b, "  "),
  "\x7f": backspace,
  "\b": backspace,
  "\x01": (b) => move(b, "home"),
  "\x05": (b) => move(b, "end"),
  "\x0b": killLine,
};

/**
 * A small multi-line editor for JSON: typing, paste, Enter with indentation, Backspace, arrows,
 * ^A/^E, ^K; ^S submits and Esc cancels. It shows `height` lines, scrolled to keep the cursor in
 * view, and the same horizontal slice of every line when the cursor is past the right edge.
 */
export function JsonEditor({ buffer, onChange, onSubmit, onCancel, height, width, active }: {
  buffer: TextBuffer;
  onChange(b: TextBuffer): void;
  onSubmit(b: TextBuffer): void;
  onCancel(): void;
  height: number;
  width: number;
  active: boolean;
}) {
  const top = useRef(0);
  useViewInput(
    (input, key) => {
      if (key.escape) return onCancel();
      if (!key.ctrl && input.length > 1 && /[\x00-\x1f\x7f]/.test(input)) return burst(input);
      if (key.ctrl && input === "s") return onSubmit(buffer);
      if (key.return) return onChange(newline(buffer));
      if (key.backspace || key.delete) return onChange(backspace(buffer));
      if (key.upArrow) return onChange(move(buffer, "up"));
      if (key.downArrow) return onChange(move(buffer, "down"));
      if (key.leftArrow) return onChange(move(buffer, "left"));
      if (key.rightArrow) return onChange(move(buffer, "right"));
      if (key.ctrl && input === "a") return onChange(move(buffer, "home"));
      if (key.ctrl && input === "e") return onChange(move(buffer, "end"));
      if (key.ctrl && input === "k") return onChange(killLine(buffer));
      if (key.tab) return onChange(insert(buffer, "  "));
      if (!key.ctrl && !key.meta && input) onChange(insert(buffer, input));
    },
    { isActive: active },
  );
  /**
   * Several keys in one read (a paste, fast typing over SSH): each control character is applied in
   * turn; line breaks split lines without adding indentation (a paste brings its own). A burst
   * with escape sequences in it (arrow keys) is dropped rather than typed as text.
   */
  const burst = (input: string) => {
    if (input.includes("\x1b")) return;
    let b = buffer;
    for (const ch of input.replace(/\r\n?/g, "\n")) {
      if (ch === "\x13") {
        onChange(b);
        return onSubmit(b);
      }
      const control = BURST_CONTROLS[ch];
      if (control) b = control(b);
      else if (!/[\x00-\x1f]/.test(ch)) b = insert(b, ch);
    }
    onChange(b);
  };
  if (buffer.row < top.current) top.current = buffer.row;
  if (buffer.row >= top.current + height) top.current = buffer.row - height + 1;
  const rows = editorRows(buffer, top.current, height, width);
  return (
    <Box flexDirection="column" height={height} width={width}>
      {rows.map((r, i) =>
        typeof r === "string" ? (
          <Text key={top.current + i} wrap="truncate-end">
            {r || " "}
          </Text>
        ) : (
          <Text key={top.current + i} wrap="truncate-end">
            {r.before}
            <Text inverse>{r.cursor}</Text>
            {r.after}
          </Text>
        ),
      )}
    </Box>
  );
}

/**
 * What the editor shows: `height` lines from `top`, each cut to the same slice of terminal
 * columns, at most width - 1 of them (wide characters count two and are never drawn half). The
 * slice starts further right when the cursor would be past the right edge. The cursor's line comes
 * in three parts: before the cursor, the character under it (a space at the end), after it.
 */
export function editorRows(buffer: TextBuffer, top: number, height: number, width: number): (string | { before: string; cursor: string; after: string })[] {
  const room = Math.max(1, width - 1);
  const line = buffer.lines[buffer.row] ?? "";
  const lineCells = cells(line);
  const under = buffer.col < line.length ? lineCells.findLast((c) => c.index <= buffer.col) : undefined;
  const cursorCol = under ? under.col : columns(lineCells.map((c) => c.text).join(""));
  const cursorWidth = under && under.width > 0 ? under.width : 1;
  const left = Math.max(0, cursorCol + cursorWidth - room);
  return buffer.lines.slice(top, top + height).map((text, i) => {
    if (top + i !== buffer.row) return sliceColumns(text, left, left + room);
    return {
      before: sliceColumns(text, left, cursorCol),
      cursor: under && under.width > 0 ? under.text : " ",
      after: under ? sliceColumns(text, cursorCol + under.width, left + room) : "",
    };
  });
}
