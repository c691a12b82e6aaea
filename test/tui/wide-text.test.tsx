import stringWidth from "string-width";
import t from "tap";
import { columns, sliceColumns, wrapColumns, wrapWords } from "../../client/tui/format.js";
import { JsonEditor } from "../../client/tui/json-editor.js";
import { backspace, fromText, move } from "../../client/tui/text-buffer.js";
import { responseLines, wrapLines } from "../../client/tui/views/mcp-request.js";
import { renderFrame } from "./ink-frame.js";

/** 41 different CJK characters, two columns each. */
const KANJI = "漢字仮名交文東京大阪都奈良神戸横浜札幌仙台名古屋広島福岡熊本鹿児沖縄長崎分宮城秋田";

t.test("wide characters are measured in terminal columns and never split", async (t) => {
  t.equal(columns("日本"), 4);
  t.same(wrapColumns("ab日本", 3), ["ab", "日", "本"], "a wide character that would cross the edge starts the next row");
  t.same(wrapColumns("", 5), [""]);
  t.equal(sliceColumns("日本語", 1, 5), " 本 ", "a wide character cut by an edge shows as a space, never half");
  t.same(wrapWords("a long message about 日本語 text", 10), ["a long", "message", "about", "日本語", "text"]);
  t.same(wrapWords("x".repeat(12), 5), ["xxxxx", "xxxxx", "xx"], "a word longer than a row is cut");
  t.same(wrapWords("    at f (a.js:1)\n\tnext", 12), ["    at f", "(a.js:1)", "  next"], "indentation is kept, the spaces at a break are not");
});

t.test("an MCP result with lines of wide characters: every row fits the screen, nothing is lost", async (t) => {
  const text = Array.from({ length: 30 }, () => KANJI.slice(0, 40)).join("\n");
  const lines = responseLines({ jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: `Echo: ${text}` }] } }, false);
  const rows = wrapLines(lines, 80);
  t.equal(rows[0], "result:", "the result: line is there");
  t.ok(rows.every((r) => stringWidth(r) <= 79), "no row reaches the last column (the terminal would wrap it)", { widths: rows.map((r) => stringWidth(r)) });
  t.equal(rows.join(""), lines.join(""), "every character is kept, in order");
  t.equal(rows.length, 1 + 30 * 2, "each line of 40 (80 columns) takes two rows");
  t.same(rows.slice(1, 3).map((r) => stringWidth(r)), [78, 8], "the first: 'Echo: ' and 36 characters, then 4");
});

t.test("the JSON editor cuts a line of wide characters at columns, and keeps the cursor in view", async (t) => {
  const line = `  "message": "${KANJI.slice(0, 30)}"`; // 14 + 60 + 1 = 75 columns
  const buffer = { lines: ["{", line, "}"], row: 1, col: line.length };
  const frame = renderFrame(<JsonEditor buffer={buffer} onChange={() => undefined} onSubmit={() => undefined} onCancel={() => undefined} height={3} width={40} active={false} />, 40);
  t.equal(frame.length, 3, "three lines, three rows: none wrapped", { frame });
  t.ok(frame.every((r) => stringWidth(r) < 40), "every row fits", { frame });
  // The cursor (after the quote, column 75) needs the slice to start at column 37: the second
  // half of the 12th character, drawn as a space.
  t.equal(frame[1]!.trimEnd(), ` ${KANJI.slice(12, 30)}"`, "the end of the line, the cut character not drawn half");
  t.equal(frame[0]!.trim(), "", "the other lines are cut at the same columns");
});

t.test("the editor's cursor moves over whole characters; up and down keep its column", async (t) => {
  let b = fromText("a👍b");
  b = move(move(b, "left"), "left");
  t.equal(b.col, 1, "an emoji is one step (two UTF-16 units)");
  b = backspace(move(fromText("a👍b"), "left"));
  t.same(b, { lines: ["ab"], row: 0, col: 1 }, "backspace removes it whole");
  const up = move({ lines: ["日本語", "abcdef"], row: 1, col: 4 }, "up");
  t.equal(up.col, 2, "column 4 on the line above is 語, the third character");
  const down = move({ lines: ["日本語", "abcdef"], row: 0, col: 2 }, "down");
  t.equal(down.col, 4);
});
