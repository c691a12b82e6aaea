import t from "tap";
import type { BridgeInfo } from "../../protocol/methods.js";
import { Header } from "../../client/tui/header.js";
import { SandboxLogs } from "../../client/tui/views/sandbox-logs.js";
import { fakeStore, InkFrame, renderFrame, withStore } from "./ink-frame.js";

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
