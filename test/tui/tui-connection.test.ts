import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { McpwServer } from "../../server/server.js";
import { listen } from "../../server/ws-listener.js";
import { startTestServer, tempDir } from "../helpers/server.js";
import { freePort, key, startTui } from "../helpers/tui.js";

t.test("server unreachable: says so and when it retries; r connects as soon as the server is up", async (t) => {
  const stateDir = tempDir("mcpw-tui-state-");
  const server = new McpwServer({ config: { port: 0, workspaceRoot: tempDir("mcpw-tui-ws-") }, stateDir, log: () => undefined });
  const { path } = server.tokens.ensureAdminToken(stateDir);
  const port = await freePort();
  const url = `ws://127.0.0.1:${port}`;
  const app = startTui({ url, stateDir }, { tokenFile: path });
  t.teardown(async () => {
    app.kill();
    await server.close();
  });
  const screen = await app.waitFor("Cannot reach the mcpw server");
  t.match(screen, `cannot reach the mcpw server at ${url}: connection refused`);
  t.match(screen, /Retrying in \d+ s \(attempt \d+\)/, "when the next attempt is");
  t.match(screen, /r retry now\s+q quit/, "the keys: retry now, quit");
  app.capture("connection-unreachable");
  const listening = await listen(server, "127.0.0.1", port);
  t.teardown(() => listening.close());
  await key(app, "r", /online/);
  await app.waitFor("No sandboxes yet");
});

t.test("wrong admin token: says which file and why, waits for the file to change, then connects", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const tokenFile = join(tempDir("mcpw-tui-token-"), "admin.token");
  writeFileSync(tokenFile, `mcpw_${"A".repeat(43)}\n`);
  const app = startTui(ts, { tokenFile });
  t.teardown(() => app.kill());
  const screen = await app.waitFor("Waiting for the token file to change");
  t.match(screen, "The server refused the admin token");
  t.match(screen, /refused the admin token in\s+\S*admin\.token: unknown token/);
  app.capture("connection-unauthorized");
  writeFileSync(tokenFile, readFileSync(join(ts.stateDir, "admin.token")));
  await app.waitFor(/online/);
  const admin = await ts.admin();
  const fails = (await admin.call("audit.tail", { filter: { event: "auth.fail" } })).entries;
  t.equal(fails.length, 1, "the refused token was tried once, not again and again into the lockout");
});

t.test("no token file: says where it looked; connects once the file is there; q quits and restores the screen", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const tokenFile = join(tempDir("mcpw-tui-token-"), "admin.token");
  rmSync(tokenFile, { force: true });
  const app = startTui(ts, { tokenFile });
  t.teardown(() => app.kill());
  const screen = await app.waitFor("No admin token");
  t.match(screen, "admin.token");
  writeFileSync(tokenFile, readFileSync(join(ts.stateDir, "admin.token")));
  await app.waitFor(/online/);
  app.press("q");
  const exit = await app.exited;
  t.equal(exit.exitCode, 0, "q quits with status 0");
  t.notMatch(app.text, /Sandboxes|online/, "the terminal is back to what it showed before (the TUI used the alternate screen)");
});
