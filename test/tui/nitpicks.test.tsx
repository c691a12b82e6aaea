import t from "tap";
import type { BridgeInfo, SandboxInfo } from "../../protocol/methods.js";
import { Header } from "../../client/tui/header.js";
import { ConnectionScreen } from "../../client/tui/views/connection-screen.js";
import { SandboxLogs } from "../../client/tui/views/sandbox-logs.js";
import { stateLine, stateText } from "../../client/tui/views/sandboxes.js";
import { TokensView } from "../../client/tui/views/tokens.js";
import { fakeStore, InkFrame, joined, renderFrame, withStore } from "./ink-frame.js";

const bridge = (name: string): BridgeInfo => ({
  id: "br_974319a4ca5e",
  env: "dev",
  name,
  active: true,
  capabilities: { fs: { readonly: [], readwrite: [] }, network: { allowedDomains: [], deniedDomains: [] }, exec: [] },
  connectedSince: "2026-01-01T00:00:00Z",
  remoteAddress: "127.0.0.1",
  requestsServed: 0,
  lastError: null,
} as unknown as BridgeInfo);

t.test("a long bridge name is cut before the header's status, with a space between", async (t) => {
  const store = fakeStore({ url: "ws://127.0.0.1:32795", bridges: [bridge("build-host-west-europe-rack-17-node-4")] });
  const [title] = renderFrame(withStore(store, <Header view="sandboxes" width={80} />), 80, 2);
  t.match(title, /bridge build-host-west-\S*… online$/, "'…', a space, then the status", { title });
  t.equal(title!.length, 80 - 1, "80 columns (the last one a space, which the frame leaves out)");
});

t.test("the logs page lists q, which goes back, in its help", async (t) => {
  let back = 0;
  const app = new InkFrame(withStore(fakeStore({ logs: { "sb-933044f8": [] } }), <SandboxLogs id="sb-933044f8" height={22} width={80} onBack={() => back++} />), 80, 22);
  t.teardown(() => app.unmount());
  t.match(app.frame.at(-1), /^esc\/q back\s+up\/dn scroll/);
  await app.press("q");
  t.equal(back, 1, "q goes back");
});

t.test("a run killed by a signal says so by name; a stopping sandbox does not claim to be stopping since it started", async (t) => {
  const at = "2026-01-01T00:01:00Z";
  const sb = (over: Partial<SandboxInfo>): SandboxInfo => ({ id: "sb-00000000", name: "x", command: ["x"], env: "dev", state: "exited", pid: null, workspace: "/", createdAt: "", startedAt: "2026-01-01T00:00:00Z", restarts: 0, exit: null, isolation: {}, ...over });
  const killed = sb({ exit: { code: 137, signal: null, reason: "exited with code 137 (SIGKILL)", at } });
  t.equal(stateText(killed), "killed", "bubblewrap's 128 + 9 is a kill, not an exit status");
  t.match(stateLine(killed), /^killed \(SIGKILL\) at \d\d:\d\d:\d\d$/);
  const limit = sb({ exit: { code: 137, signal: null, reason: "memory limit (memMb=256): exited with code 137 (SIGKILL)", at } });
  t.match(stateLine(limit), /^memory limit \(memMb=256\): exited with code 137 \(SIGKILL\) at /, "a reason with a cause is kept whole");
  const stopped = sb({ exit: { code: 143, signal: null, reason: "stopped by request", at } });
  t.equal(stateText(stopped), "stopped", "a stop the person asked for is not a kill");
  t.match(stateLine(stopped), /^stopped by request at /);
  t.equal(stateText(sb({ exit: { code: 3, signal: null, reason: "exited with code 3", at } })), "exit 3");

  const stopping = stateLine(sb({ state: "stopping", pid: 42 }));
  t.match(stopping, /^stopping \(running since \d\d:\d\d:\d\d\)$/);
  t.notMatch(stopping, /stopping since/);
  t.match(stateLine(sb({ state: "running", pid: 42 })), /^running since \d\d:\d\d:\d\d$/);
});

t.test("a token without a name gets a sentence, not the schema's message, and nothing is sent", async (t) => {
  let calls = 0;
  const store = fakeStore({}, {
    "token.create": () => {
      calls++;
      throw new Error("params.name: Too small: expected string to have >=1 characters");
    },
  });
  const app = new InkFrame(withStore(store, <TokensView height={22} width={80} />), 80, 22);
  t.teardown(() => app.unmount());
  await app.press("n");
  await app.press("\r"); // environment: dev
  await app.press("\r"); // name: empty
  const frame = await app.press("\r");
  t.match(joined(frame), "name: type a name for the token, such as laptop-bridge; it is how you tell tokens apart in the list");
  t.notMatch(joined(frame), /params\.|Too small/);
  t.equal(calls, 0, "the server was not asked");
});

t.test("the connection screen wraps its message at spaces, without a stray space at a row's start", async (t) => {
  const message = "cannot reach the mcpw server at ws://127.0.0.1:1: connection refused; is `mcpw serve` running?";
  const store = fakeStore({ server: null, link: { status: "offline", problem: "unreachable", message, hint: "The address comes from --server or MCPW_SERVER.", retryAt: null, attempt: 1 } });
  const frame = renderFrame(withStore(store, <ConnectionScreen link={store.getState().link} url="ws://127.0.0.1:1" height={22} width={80} />), 80, 22);
  t.match(joined(frame), message);
  t.ok(frame.every((r) => !/^ {2}\S/.test(r)), "every row starts at the padding, one space in", { frame });
});
