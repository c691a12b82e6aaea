import t from "tap";
import { bridgeTree, startTestBridge } from "../helpers/bridge.js";
import { key, lineWith, serverFor, tuiOn } from "../helpers/tui.js";

t.test("audit: live tail; filter by verdict, sandbox and bridge; clear", async (t) => {
  const ts = await serverFor(t);
  const bridge = startTestBridge(ts.url, ts.bridgeToken("dev"), "dev", "auditor", { filesystem: { readonly: [bridgeTree().allowed] } });
  await bridge.reach("active");
  t.teardown(() => bridge.daemon.stop());
  const app = await tuiOn(t, ts);
  await key(app, "4", "[4 Audit]");
  await app.waitFor(/auth\.ok\s+role=client/);

  const admin = await ts.admin();
  const sb = await admin.call("sandbox.create", {
    name: "prober",
    command: ["node", "-e", "fetch('http://example.com/').catch(() => console.error('refused')); setInterval(() => {}, 1000)"],
  });
  const live = await app.waitFor(new RegExp(`deny\\s+op\\s+op=net\\.connect origin=sandbox:${sb.id}`));
  t.match(live, new RegExp(`info\\s+sandbox\\.start\\s+sandbox=${sb.id}`), "lines appear as they happen");
  t.match(live, /\d+ entries, following/);
  app.capture("audit");

  const allow = await key(app, "v", /verdict allow/);
  t.notMatch(allow, /deny\s+op/, "verdict=allow hides the refusal");
  const deny = await key(app, "v", /verdict deny/);
  t.match(deny, /deny\s+op\s+op=net\.connect/);
  t.notMatch(deny, /allow\s+auth\.ok/);
  await key(app, "c", /verdict all\s+sandbox all/);
  const bySandbox = await key(app, "s", new RegExp(`sandbox ${sb.id}`));
  t.notMatch(bySandbox, /auth\.ok/, "only entries about that sandbox");
  t.match(bySandbox, /sandbox\.create/);
  t.match(bySandbox, /op=net\.connect/, "operations it originated count as its own");

  await key(app, "c", /verdict all\s+sandbox all/);
  const byBridge = await key(app, "b", /verdict all\s+sandbox all\s+bridge auditor/);
  t.match(byBridge, /bridge\.register\s+bridge=auditor/);
  t.notMatch(byBridge, /sandbox\.create/);

  await key(app, "1", "[1 Sandboxes]");
  const back = await key(app, "4", "[4 Audit]");
  t.match(back, /bridge auditor/, "the filter is still there after visiting another view");
});

t.test("resizing redraws cleanly, and 80x24 is enough for every view", async (t) => {
  const ts = await serverFor(t);
  ts.bridgeToken("dev");
  const app = await tuiOn(t, ts);
  const check = (screen: string, cols: number, rows: number, help: RegExp) => {
    const lines = screen.split("\n");
    t.equal(lines.length, rows);
    t.match(lines[0], /^ mcpw ws:\/\/127\.0\.0\.1:\d+\s+env dev\s+bridge none\s+online$/, "header on the first line");
    t.match(lines[rows - 1], help, "help bar on the last line");
    t.equal(lines.filter((l) => l.includes(" mcpw ws://")).length, 1, "one header: nothing left from an earlier layout");
    t.ok(lines.every((l) => l.length <= cols), "no line is wider than the terminal");
  };
  // A whole frame at the new size: header first, help bar last (frames drawn for the old size may
  // still be on their way when the terminal is resized).
  const lastLine = (help: RegExp, rows = 24) => (s: string) => {
    const lines = s.split("\n");
    return help.test(lines[rows - 1] ?? "") && lines[0]!.startsWith(" mcpw ws://") && lines.filter((l) => l.includes(" mcpw ws://")).length === 1;
  };
  for (const [n, help] of [
    ["1", /^s start\s+x stop/],
    ["2", /^up\/dn select/],
    ["3", /^n new token\s+d revoke/],
    ["4", /^v verdict\s+s sandbox/],
  ] as const) {
    check(await key(app, n, lastLine(help)), 80, 24, help);
  }
  app.resize(120, 40);
  check(await app.waitFor(lastLine(/^v verdict/, 40)), 120, 40, /^v verdict/);
  app.resize(80, 24);
  const small = await app.waitFor(lastLine(/^v verdict/));
  check(small, 80, 24, /^v verdict/);
  t.match(lineWith(small, "TIME"), /^  TIME\s+VERDICT EVENT\s+DETAILS$/);
  app.resize(50, 12);
  await app.waitFor(/needs at least\s+60x16/);
  app.resize(80, 24);
  await app.waitFor(lastLine(/^v verdict/));
});
