import stringWidth from "string-width";
import t, { type Test } from "tap";
import { Box, Text } from "ink";
import type { SandboxInfo, TokenInfo } from "../../protocol/methods.js";
import { ViewFrame } from "../../client/tui/view-frame.js";
import { McpRequest } from "../../client/tui/views/mcp-request.js";
import { SandboxLogs } from "../../client/tui/views/sandbox-logs.js";
import { SandboxesView } from "../../client/tui/views/sandboxes.js";
import { TokensView } from "../../client/tui/views/tokens.js";
import { fakeStore, InkFrame, joined, renderFrame, withStore } from "./ink-frame.js";

// A view's share of an 80x24 screen (the header takes 2 rows).
const W = 80;
const H = 22;

const sandbox = (over: Partial<SandboxInfo> = {}): SandboxInfo => ({
  id: "sb-933044f8",
  name: "everything",
  command: ["node", "server.js"],
  env: "dev",
  state: "running",
  pid: 42,
  workspace: "/srv/mcpw/mount/sb-933044f8",
  createdAt: "2026-01-01T00:00:00Z",
  startedAt: "2026-01-01T00:00:00Z",
  restarts: 0,
  exit: null,
  isolation: { bubblewrap: "on" },
  ...over,
});

const token = (over: Partial<TokenInfo> = {}): TokenInfo =>
  ({ id: "tok_0a3695b16f836dff", name: "ci-runner-for-the-nightly-builds", kind: "bridge", env: "dev", createdAt: "2026-01-01T00:00:00Z", expiresAt: null, lastUsedAt: null, revokedAt: null, ...over }) as TokenInfo;

/** The frame is whole: `rows` rows, none wider than the screen, the help bar (starting with `help`) on the last. */
function fits(t: Test, frame: string[], rows: number, help: string, columns = W) {
  t.equal(frame.length, rows, "the frame has exactly the screen's rows", { frame });
  t.ok(frame.every((r) => stringWidth(r) <= columns), "no row is wider than the screen", { frame });
  t.ok(frame.at(-1)!.startsWith(help), "the help bar is on the last row", { frame });
}

t.test("the token form's error wraps: the rule for environment names is read whole", async (t) => {
  const rule = "params.env: environment names are 1-32 chars of a-z, 0-9, _ or -, starting with a letter";
  const store = fakeStore({}, {
    "token.create": () => {
      throw new Error(rule);
    },
  });
  const app = new InkFrame(withStore(store, <TokensView height={H} width={W} />), W, H);
  t.teardown(() => app.unmount());
  await app.press("n");
  await app.press("\x15");
  await app.press("bad env!");
  await app.press("\r");
  await app.press("ci");
  await app.press("\r");
  const frame = await app.press("\r");
  t.match(joined(frame), rule.replace("params.env", "environment"), "the whole message, on as many rows as it takes");
  fits(t, frame, H, "enter next/submit");
});

t.test("the status line wraps a long message (offline, in an editor), and the body gives way", async (t) => {
  const message = "cannot reach the mcpw server at ws://10.0.0.5:7800: connection refused; is `mcpw serve` running? (and a little more)";
  const store = fakeStore({ link: { status: "offline", problem: "unreachable", message, hint: "", retryAt: null, attempt: 3 } });
  const frame = renderFrame(
    withStore(
      store,
      <ViewFrame height={H} width={W} help={[["^S", "send"]]} modal>
        <Box flexDirection="column" height={40} flexShrink={0}>
          {Array.from({ length: 40 }, (_, i) => (
            <Text key={i}>body row {i}</Text>
          ))}
        </Box>
      </ViewFrame>,
    ),
    W,
    H,
  );
  t.match(joined(frame), `OFFLINE: ${message}`);
  fits(t, frame, H, "^S send");
  t.match(frame[H - 4], /^body row 18/, "the body ends a row higher");
  t.notMatch(joined(frame), "body row 19", "the body is a row shorter");
});

t.test("the sandbox detail pane wraps the question before a removal, and a long exit reason", async (t) => {
  const store = fakeStore({ sandboxes: [sandbox()] });
  const app = new InkFrame(withStore(store, <SandboxesView height={H} width={W} />), W, H);
  t.teardown(() => app.unmount());
  const frame = await app.press("d");
  t.match(joined(frame), "Remove sb-933044f8 (everything)? It is stopped first; its workspace stays on the server. y: remove, any other key: keep");
  fits(t, frame, H, "y yes");

  const reason = 'memory limit (memMb=256): exited with code 134 (SIGABRT), after "Array buffer allocation failed" on its stderr';
  const exited = sandbox({ state: "exited", pid: null, exit: { code: 134, signal: null, reason, at: "2026-01-01T00:01:00Z" } });
  const ended = renderFrame(withStore(fakeStore({ sandboxes: [exited] }), <SandboxesView height={H} width={W} />), W, H);
  t.match(joined(ended), `state ${reason} at `, "the reason in full");
  t.match(joined(ended), "command node server.js", "and the rest of the pane below it");
  fits(t, ended, H, "s start");
});

t.test("the question before revoking a token wraps, also at 60 columns", async (t) => {
  const store = fakeStore({ tokens: [token()] });
  const app = new InkFrame(withStore(store, <TokensView height={14} width={60} />), 60, 14);
  t.teardown(() => app.unmount());
  const frame = await app.press("d");
  t.match(joined(frame), "Revoke tok_0a3695b16f836dff (ci-runner-for-the-nightly-builds, env dev)? Connections using it are closed at once. y: revoke, any other key: keep");
  fits(t, frame, 14, "y yes", 60);
});

t.test("why an MCP request failed wraps under the editor", async (t) => {
  const failure = "sandbox sb-933044f8 did not answer tools/call within 60000 ms: the MCP server may be busy, stuck or waiting on its stdin";
  const store = fakeStore({}, {
    "sandbox.mcp": (params) => {
      const { message } = params as { message: { id: string; method: string } };
      if (message.method === "tools/call") throw new Error(failure);
      return { response: { jsonrpc: "2.0", id: message.id, result: { tools: [{ name: "echo", description: "Echoes back the input string", inputSchema: { type: "object", properties: { message: { type: "string" } }, required: ["message"] } }] } } };
    },
  });
  const app = new InkFrame(withStore(store, <McpRequest id="sb-933044f8" height={H} width={W} onBack={() => undefined} />), W, H);
  t.teardown(() => app.unmount());
  await app.press("");
  await app.press("\r");
  const frame = await app.press("\x13");
  t.match(joined(frame), failure);
  t.match(frame.join("\n"), /"message": ""/, "the arguments are still there, above it");
  fits(t, frame, H, "^S send");
});

t.test("a long log line wraps under its text (the reason a sandbox ended, in full); scrolling goes by lines", async (t) => {
  const reason = 'memory limit (memMb=256): exited with code 134 (SIGABRT), after "Array buffer allocation failed" on its stderr';
  const at = "2026-01-01T00:00:00Z";
  const lines = [
    ...Array.from({ length: 30 }, (_, i) => ({ seq: i + 1, at, stream: "stderr" as const, text: `line ${i + 1}` })),
    { seq: 31, at, stream: "system" as const, text: reason },
  ];
  const store = fakeStore({ sandboxes: [sandbox({ state: "exited" })], logs: { "sb-933044f8": lines } });
  const app = new InkFrame(withStore(store, <SandboxLogs id="sb-933044f8" height={H} width={W} onBack={() => undefined} />), W, H);
  t.teardown(() => app.unmount());
  const following = app.frame;
  t.match(joined(following), `[mcpw] ${reason}`, "the last line whole, on two rows");
  // Rows: 0 the title, 1-19 the log, then the status line and the help bar.
  t.match(following[H - 3], /^ {9}"Array buffer allocation failed" on its stderr$/, "its second row starts under the text, not under the time");
  t.match(following[1], /^\d\d:\d\d:\d\d line 14$/, "the page ends with it: 17 lines above it, 19 rows in all");
  fits(t, following, H, "esc/q back");
  const up = await app.press("k");
  t.match(up[0], "lines 13-31 of 31; G to follow", "one line up");
  t.match(up[1], / line 13$/);
  t.match(up[H - 3], /^\d\d:\d\d:\d\d \[mcpw\] memory limit/, "the last line's first row at the bottom");
  fits(t, up, H, "esc/q back");
});
