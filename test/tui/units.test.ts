import t from "tap";
import { ago, bytes, clean, duration, fit, rule, shellWords, until } from "../../client/tui/format.js";
import { lineDiffStdout } from "../../client/tui/screen-writer.js";
import { backspace, fromText, insert, killLine, move, newline, toText } from "../../client/tui/text-buffer.js";
import { argumentsBuffer, argumentsTemplate, responseLines } from "../../client/tui/views/mcp-request.js";
import { auditSummary } from "../../client/tui/views/audit.js";
import { stateText } from "../../client/tui/views/sandboxes.js";
import type { SandboxInfo } from "../../protocol/methods.js";

t.test("cells: fixed width, never a control character or a wrap", async (t) => {
  t.equal(fit("abc", 5), "abc  ");
  t.equal(fit("abc", 5, "right"), "  abc");
  t.equal(fit("abcdef", 4), "abc…");
  t.equal(fit("a\tb\x1b[31mc", 12), "a  b?[31mc  ");
  t.equal(fit("日本", 4), "??  ", "wide characters become one-column placeholders");
  t.equal(clean("x\x07y\r\n"), "x?y??");
  t.equal(rule("sb-1", 12), "-- sb-1 ----");
});

t.test("durations, sizes and dates", async (t) => {
  t.equal(duration(59), "59s");
  t.equal(duration(723), "12m03s");
  t.equal(duration(3 * 3600 + 4 * 60), "3h04m");
  t.equal(duration(2 * 86400 + 5 * 3600), "2d05h");
  t.equal(bytes(512), "512B");
  t.equal(bytes(45.6 * 1024 * 1024), "46M");
  t.equal(bytes(1.25 * 1024 * 1024 * 1024), "1.3G");
  const now = Date.parse("2026-01-01T12:00:00Z");
  t.equal(ago("2026-01-01T11:59:55Z", now), "5s ago");
  t.equal(ago(null, now), "never");
  t.equal(until("2026-01-31T12:00:00Z", now), "in 30d00h");
  t.equal(until("2025-12-31T12:00:00Z", now), "expired");
});

t.test("a command line typed in the TUI is split like a shell splits words", async (t) => {
  t.same(shellWords(`npx -y "@scope/server x" 'it''s' a\\ b`), ["npx", "-y", "@scope/server x", "its", "a b"]);
  t.same(shellWords(`node -e "console.log(\\"hi\\")"`), ["node", "-e", 'console.log("hi")']);
  t.same(shellWords("  "), []);
  t.throws(() => shellWords(`echo "open`), /unclosed double quote/);
});

t.test("the JSON editor's text: typing, paste with line breaks, indentation, backspace, moves", async (t) => {
  let b = argumentsBuffer("{\n}");
  t.same([b.row, b.col], [0, 1], "after the opening brace");
  b = newline(b);
  t.equal(toText(b), "{\n  \n}", "Enter after { indents");
  b = insert(b, '"a": 1,\r\n"b": 2');
  t.equal(toText(b), '{\n  "a": 1,\n"b": 2\n}');
  b = backspace(move(b, "home"));
  t.equal(toText(b), '{\n  "a": 1,"b": 2\n}', "backspace at the start of a line joins it to the one above");
  b = killLine(b);
  t.equal(toText(b), '{\n  "a": 1,\n}');
  t.same(move(fromText("ab\ncdef"), "up"), { lines: ["ab", "cdef"], row: 0, col: 2 });
});

t.test("a tool's arguments template: required properties and defaults", async (t) => {
  const schema = {
    type: "object",
    properties: { message: { type: "string" }, count: { type: "integer", default: 3 }, mode: { type: "string", enum: ["fast", "slow"] }, extra: { type: "boolean" } },
    required: ["message", "mode"],
  };
  t.same(JSON.parse(argumentsTemplate(schema)), { message: "", count: 3, mode: "fast" });
  const b = argumentsBuffer(argumentsTemplate(schema));
  t.equal(b.lines[b.row]!.slice(0, b.col), '  "message": "', "the cursor waits inside the first empty string");
  t.equal(argumentsTemplate(undefined), "{}");
});

t.test("results, audit lines and sandbox states in words", async (t) => {
  t.same(responseLines({ jsonrpc: "2.0", id: 1, result: { content: [{ type: "text", text: "a\nb" }] } }, false), ["result:", "a", "b"]);
  t.equal(responseLines({ error: { code: -1 } }, false)[0], "{");
  t.equal(
    auditSummary({ ts: "x", event: "op", verdict: "deny", op: "fs.read", origin: { kind: "sandbox", id: "sb-1" }, target: "/etc" }),
    "op=fs.read origin=sandbox:sb-1 target=/etc",
  );
  const sb = (exit: SandboxInfo["exit"]): SandboxInfo => ({ id: "sb-00000000", name: "x", command: ["x"], env: "dev", state: "exited", pid: null, workspace: "/", createdAt: "", startedAt: null, restarts: 0, exit, isolation: {} });
  const at = "2026-01-01T00:00:00Z";
  t.equal(stateText(sb({ code: null, signal: null, reason: "stopped by request", at })), "stopped");
  t.equal(stateText(sb({ code: 3, signal: null, reason: "exited with code 3", at })), "exit 3");
  t.equal(stateText(sb({ code: null, signal: "SIGKILL", reason: "killed by SIGKILL", at })), "killed");
});

t.test("the screen writer sends a full frame first, then only the lines that changed", async (t) => {
  const written: string[] = [];
  const fake = { columns: 10, rows: 3, write: (s: string) => written.push(s) === 0 } as unknown as NodeJS.WriteStream;
  const out = lineDiffStdout(fake);
  const CLEAR = "\x1b[2J\x1b[3J\x1b[H";
  out.write(`${CLEAR}a\nb\nc`);
  t.equal(written.pop(), `${CLEAR}a\nb\nc`, "the first frame whole");
  out.write(`${CLEAR}a\nB\nc`);
  t.equal(written.pop(), "\x1b[2;1H\x1b[2KB", "then row 2 alone");
  out.write("\x1b]52;c;eA==\x07");
  t.equal(written.pop(), "\x1b]52;c;eA==\x07", "other writes pass through");
  (fake as { columns: number }).columns = 20;
  out.write(`${CLEAR}a\nB\nc`);
  t.equal(written.pop(), `${CLEAR}a\nB\nc`, "a new size gets the whole frame again");
  t.equal(out.columns, 20, "everything else is the real stream's");
});
