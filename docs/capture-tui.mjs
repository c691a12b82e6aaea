#!/usr/bin/env node
// Captures each TUI view from a real run at 80x24, for docs/tui.md:
//
//   npm run build && node docs/capture-tui.mjs [out-dir]      (default $TMPDIR/mcpw-tui-captures)
//
// It starts a real server, a real bridge and real sandboxes in this process, runs `mcpw tui` on a
// pseudo-terminal (node-pty), presses keys as a person would and writes what the screen shows.
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bridgeTree, startTestBridge } from "../dist/test/helpers/bridge.js";
import { startTestServer } from "../dist/test/helpers/server.js";
import { startTui } from "../dist/test/helpers/tui.js";

const out = process.argv[2] ?? join(tmpdir(), "mcpw-tui-captures");
mkdirSync(out, { recursive: true });
const save = (app, name) => writeFileSync(join(out, `${name}.txt`), `${app.text}\n`);
const step = async (app, keys, then) => {
  app.press(keys);
  return app.waitFor(then);
};

const ts = await startTestServer();
const admin = await ts.admin();
const pkg = (name) => join(process.cwd(), "node_modules/@modelcontextprotocol", name, "dist/index.js");
const bridge = startTestBridge(ts.url, ts.bridgeToken("dev"), "dev", "laptop", {
  filesystem: { readonly: [bridgeTree().allowed] },
  network: { allowedDomains: ["registry.npmjs.org", "api.github.com"] },
});
await bridge.reach("active");
await admin.call("sandbox.create", { name: "everything", command: ["node", pkg("server-everything"), "stdio"] });
await admin.call("sandbox.create", { name: "memory", command: ["node", pkg("server-memory")] });
await admin.call("sandbox.create", {
  name: "fetcher",
  command: ["node", "-e", "setInterval(() => fetch('https://example.com/').catch((e) => console.error('fetch refused:', e.cause?.message ?? e.message)), 4000)"],
});
await admin.call("sandbox.create", { name: "crasher", command: ["node", "-e", "console.error('bad config: missing API_KEY'); process.exit(3)"] });

const app = startTui(ts);
try {
  await app.waitFor(/crasher\s+dev\s+exit 3/);
  await app.waitFor(/everything\s+dev\s+running\s+\S+\s+\S+\s+\d+(\.\d)?%/);
  save(app, "1-sandboxes");
  await step(app, "l", /Starting default \(STDIO\) server/);
  save(app, "1-sandboxes-logs");
  await step(app, "\x1b", "s start");
  await step(app, "m", /pick a tool/);
  save(app, "1-sandboxes-mcp-tools");
  await step(app, "\r", "tools/call echo");
  await step(app, "hello from the TUI", /"message": "hello from the TUI"/);
  save(app, "1-sandboxes-mcp-edit");
  await step(app, "\x13", "Echo: hello from the TUI");
  save(app, "1-sandboxes-mcp-result");
  await step(app, "\x1b", /pick a tool/);
  await step(app, "\x1b", "s start");

  await step(app, "2", /laptop\s+dev\s+SERVING/);
  save(app, "2-bridges");

  await step(app, "3", "[3 Tokens]");
  await step(app, "n", "New bridge token");
  await step(app, "\rci-runner", /> name\s+: ci-runner/);
  await step(app, "\r", /> expires/);
  save(app, "3-tokens-new");
  await step(app, "\r", "only time the token is shown");
  save(app, "3-tokens-created");
  await step(app, "\r", /ci-runner\s+dev\s+valid/);
  save(app, "3-tokens");
  await step(app, "d", "Revoke");
  save(app, "3-tokens-revoke");
  await step(app, "y", /ci-runner\s+dev\s+revoked/);

  await step(app, "4", "[4 Audit]");
  await app.waitFor(/deny\s+op\s+op=net\.connect/);
  save(app, "4-audit");
  await step(app, "v", /verdict allow/);
  await step(app, "v", /verdict deny/);
  save(app, "4-audit-deny");
  await step(app, "\r", "Audit entry: op at");
  save(app, "4-audit-entry");
} finally {
  app.kill();
}

// The connection problems, each on a fresh TUI.
const wrong = join(ts.stateDir, "wrong.token");
writeFileSync(wrong, `mcpw_${"A".repeat(43)}\n`);
const refused = startTui(ts, { tokenFile: wrong });
await refused.waitFor("Waiting for the token file to change");
save(refused, "0-connection-refused-token");
refused.kill();
const unreachable = startTui({ url: "ws://127.0.0.1:1", stateDir: ts.stateDir });
await unreachable.waitFor(/Retrying in \d+ s/);
save(unreachable, "0-connection-unreachable");
unreachable.kill();

bridge.daemon.stop();
await ts.close();
console.log(`captures written to ${out}`);
