import { readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { McpwServer } from "../../server/server.js";
import { listen } from "../../server/ws-listener.js";
import { connectToServer } from "../../client/server-connection.js";
import { bridgeTree, startTestBridge } from "../helpers/bridge.js";
import { mcpwDaemon } from "../helpers/cli.js";
import { rejection, startTestServer, tempDir } from "../helpers/server.js";

const readOp = (path: string) => ({ op: { op: "fs.read" as const, path } });

t.test("bridge registers, serves, and a standby takes over when the active one drops", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const admin = await ts.admin();
  const tree = bridgeTree();
  writeFileSync(join(tree.allowed, "a.txt"), "from the bridge");
  const policy = { filesystem: { readonly: [tree.allowed] } };

  const first = startTestBridge(ts.url, ts.bridgeToken("dev"), "dev", "first", policy);
  t.teardown(() => first.daemon.stop());
  await first.reach("active");
  const second = startTestBridge(ts.url, ts.bridgeToken("dev"), "dev", "second", policy);
  t.teardown(() => second.daemon.stop());
  await second.reach("standby");

  const listed = await admin.call("bridge.list");
  t.equal(listed.selectedEnv, "dev");
  t.same(listed.bridges.map((b) => [b.name, b.active]), [["first", true], ["second", false]], "one active per environment, the other standing by");
  t.same(listed.bridges[0]!.capabilities.fs.readonly, [tree.allowed], "capabilities are registered");

  const r1 = (await admin.call("op.call", readOp(join(tree.allowed, "a.txt")))) as { data: string };
  t.equal(Buffer.from(r1.data, "base64").toString(), "from the bridge");
  t.equal(first.audit.length, 1, "the active bridge did it and audited it");
  t.equal(second.audit.length, 0, "the standby did nothing");

  first.daemon.stop();
  await second.reach("active");
  const r2 = (await admin.call("op.call", readOp(join(tree.allowed, "a.txt")))) as { data: string };
  t.equal(Buffer.from(r2.data, "base64").toString(), "from the bridge");
  t.equal(second.audit.length, 1, "after takeover the former standby serves");
  const events = (await admin.call("audit.tail", { filter: { event: "bridge" } })).entries.map((e) => e.event);
  t.ok(events.includes("bridge.takeover"), "the takeover is audited");
});

t.test("with no active bridge a request fails at once, and other environments' bridges do not serve", async (t) => {
  // A request timeout of 60 s: if the failure waited for it, this test would hit tap's timeout instead.
  const ts = await startTestServer({ requestTimeoutMs: 60_000 });
  t.teardown(() => ts.close());
  const admin = await ts.admin();
  const e1 = await rejection(admin.call("op.call", readOp("/etc/hostname")));
  t.equal(e1.code, "no_bridge");
  t.equal(e1.message, 'no active bridge for environment "dev"');

  const prod = startTestBridge(ts.url, ts.bridgeToken("prod"), "prod", "prod-bridge", { filesystem: { readonly: ["/etc"] } });
  t.teardown(() => prod.daemon.stop());
  await prod.reach("active");
  for (let i = 0; i < 100 && !prod.logs.some((l) => l.includes("will not be asked")); i++) await new Promise((r) => setTimeout(r, 20));
  t.match(prod.logs.join("\n"), /the server serves environment "dev", so this bridge will not be asked for anything/);
  const e2 = await rejection(admin.call("op.call", readOp("/etc/hostname")));
  t.equal(e2.code, "no_bridge", "a prod bridge does not serve a dev server");
  t.equal(prod.audit.length, 0);
});

t.test("path escapes through server and bridge are refused: .., symlinks, absolute paths outside", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const admin = await ts.admin();
  const tree = bridgeTree();
  writeFileSync(join(tree.outside, "secret.txt"), "top secret");
  symlinkSync(join(tree.outside, "secret.txt"), join(tree.allowed, "link-to-secret"));
  symlinkSync(tree.outside, join(tree.allowed, "sub", "dirlink"));
  const bridge = startTestBridge(ts.url, ts.bridgeToken("dev"), "dev", "b", { filesystem: { readwrite: [tree.allowed] } });
  t.teardown(() => bridge.daemon.stop());
  await bridge.reach("active");

  const attempts: [string, object][] = [
    ["dot-dot", readOp(`${tree.allowed}/../outside/secret.txt`)],
    ["dot-dot deeper", readOp(`${tree.allowed}/sub/../../outside/secret.txt`)],
    ["symlink to a file outside", readOp(join(tree.allowed, "link-to-secret"))],
    ["symlinked directory", readOp(join(tree.allowed, "sub", "dirlink", "secret.txt"))],
    ["absolute path outside", readOp(join(tree.outside, "secret.txt"))],
    ["/etc/passwd", readOp("/etc/passwd")],
    ["write through a symlinked dir", { op: { op: "fs.write", path: join(tree.allowed, "sub", "dirlink", "planted"), data: Buffer.from("x").toString("base64") } }],
    ["rename out of the root", { op: { op: "fs.rename", from: join(tree.allowed, "sub"), to: join(tree.outside, "stolen") } }],
    ["list through a symlinked dir", { op: { op: "fs.list", path: join(tree.allowed, "sub", "dirlink") } }],
  ];
  for (const [name, params] of attempts) {
    const e = await rejection(admin.call("op.call", params as never));
    t.equal(e.code, "policy_denied", `${name}: refused by policy (${e.message})`);
  }
  const relative = await rejection(admin.call("op.call", readOp("allowed/a.txt")));
  t.equal(relative.code, "bad_params", "relative paths are rejected by the schema");
  const nul = await rejection(admin.call("op.call", readOp(`${tree.allowed}/a\0.txt`)));
  t.match(nul.message, /NUL byte/);
  t.equal(bridge.audit.filter((e) => e.verdict === "deny").length, attempts.length, "each refusal is audited by the bridge");
  const serverAudit = (await admin.call("audit.tail", { filter: { event: "op", verdict: "deny" } })).entries;
  t.equal(serverAudit.length, attempts.length, "and by the server");
});

t.test("a bridge reconnects with backoff when the server restarts", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const port = ts.listening.port;
  const token = ts.bridgeToken("dev");
  const bridge = startTestBridge(ts.url, token, "dev", "phoenix", {});
  t.teardown(() => bridge.daemon.stop());
  await bridge.reach("active");
  await ts.listening.close();
  await bridge.reach("connecting");
  // A new server process on the same port and state dir: the token is still valid.
  const again = new McpwServer({ config: { port }, stateDir: ts.stateDir, log: () => undefined });
  const listening = await listen(again, "127.0.0.1", port);
  t.teardown(async () => {
    await again.close();
    await listening.close();
  });
  await bridge.reach("active");
  t.ok(bridge.logs.some((l) => /lost|retrying/.test(l)), "the daemon says what happened");
  t.equal(again.bridges.active("dev")?.name, "phoenix");
});

t.test("a refused token stops the daemon instead of retrying forever", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const bridge = startTestBridge(ts.url, `mcpw_${"z".repeat(43)}`, "dev", "bad", {});
  const err = (await bridge.running) as Error & { code?: string };
  t.equal(err.code, "unauthorized");
  t.equal(bridge.daemon.state, "stopped");
});

t.test("a bridge that never answers times out; one that drops mid-request fails it with bridge_gone", async (t) => {
  const ts = await startTestServer({ requestTimeoutMs: 300 });
  t.teardown(() => ts.close());
  const admin = await ts.admin();
  const caps = { fs: { readonly: [], readwrite: [] }, network: { allowedDomains: [], deniedDomains: [] }, exec: [] };
  // A misbehaving bridge: registers, then ignores every request.
  const silent = await connectToServer(ts.url, ts.bridgeToken("dev"), "bridge", { dispatch: () => new Promise(() => undefined) });
  await silent.call("bridge.register", { env: "dev", name: "silent", capabilities: caps });
  const slow = await rejection(admin.call("op.call", readOp("/etc/hostname")));
  t.equal(slow.code, "timeout");
  t.match(slow.message, /no answer within 300 ms/);
  const pending = admin.call("op.call", readOp("/etc/hostname"), 5000);
  setTimeout(() => silent.close(), 50);
  const gone = await rejection(pending);
  t.ok(gone.code === "bridge_gone" || gone.code === "timeout", `dropped bridge fails the request (${gone.code})`);
  const after = await rejection(admin.call("op.call", readOp("/etc/hostname")));
  t.equal(after.code, "no_bridge", "and the server knows it is gone");
});

t.test("heartbeat: a stopped (SIGSTOP) active bridge is dropped and the standby serves within 2 x heartbeatMs", async (t) => {
  const heartbeatMs = 400;
  const ts = await startTestServer({ heartbeatMs, requestTimeoutMs: 60_000 });
  t.teardown(() => ts.close());
  const admin = await ts.admin();
  const tree = bridgeTree();
  writeFileSync(join(tree.allowed, "a.txt"), "served");
  const dir = tempDir("mcpw-test-frozen-");
  writeFileSync(join(dir, "token"), ts.bridgeToken("dev"), { mode: 0o600 });
  writeFileSync(join(dir, "policy.json"), JSON.stringify({ filesystem: { readonly: [tree.allowed] } }));
  // A real bridge process, so that it can be stopped like a hung or suspended one.
  const frozen = await mcpwDaemon(
    ["bridge", "--server", ts.url, "--env", "dev", "--token-file", join(dir, "token"), "--policy", join(dir, "policy.json"), "--name", "frozen", "--state-dir", dir],
    /active: serving environment "dev"/,
  );
  t.teardown(() => {
    frozen.child.kill("SIGCONT");
    frozen.child.kill("SIGKILL");
  });
  const standby = startTestBridge(ts.url, ts.bridgeToken("dev"), "dev", "standby", { filesystem: { readonly: [tree.allowed] } });
  t.teardown(() => standby.daemon.stop());
  await standby.reach("standby");
  t.equal((await admin.call("bridge.list")).bridges.find((b) => b.active)?.name, "frozen");

  frozen.child.kill("SIGSTOP");
  const stoppedAt = Date.now();
  await standby.reach("active", 10_000);
  const took = Date.now() - stoppedAt;
  t.ok(took <= 2 * heartbeatMs + 1500, `the standby took over ${took} ms after the active bridge stopped (heartbeat ${heartbeatMs} ms)`);
  const r = (await admin.call("op.call", readOp(join(tree.allowed, "a.txt")))) as { data: string };
  t.equal(Buffer.from(r.data, "base64").toString(), "served");
  t.equal(standby.audit.length, 1, "the former standby served it");
  const listed = (await admin.call("bridge.list")).bridges.map((b) => [b.name, b.active]);
  t.same(listed, [["standby", true]], "the stopped bridge is gone from the registry");
  const gone = (await admin.call("audit.tail", { filter: { event: "bridge" } })).entries.filter((e) => e.event === "bridge.disconnect");
  t.match(gone, [{ bridge: "frozen" }], "its disconnection is audited");
});

t.test("heartbeat: a bridge whose server stops answering (SIGSTOP) gives up the connection and comes back", async (t) => {
  const heartbeatMs = 300;
  const state = tempDir("mcpw-test-state-");
  const serve = await mcpwDaemon(["serve", "--port", "0", "--state-dir", state], /listening on (ws:\/\/127\.0\.0\.1:\d+)/);
  t.teardown(() => {
    serve.child.kill("SIGCONT");
    serve.child.kill("SIGKILL");
  });
  const url = serve.match[1]!;
  const admin = await connectToServer(url, readFileSync(join(state, "admin.token"), "utf8").trim(), "client");
  const { token } = await admin.call("token.create", { env: "dev", name: "b" });
  admin.close();
  const bridge = startTestBridge(url, token, "dev", "patient", {}, { heartbeatMs });
  t.teardown(() => bridge.daemon.stop());
  await bridge.reach("active");
  // "active" can come (as an event) before the answer to bridge.register: wait for that too, so the
  // server is not stopped half-way through registering.
  for (let i = 0; i < 200 && !bridge.logs.some((l) => l.startsWith("registered as")); i++) await new Promise((r) => setTimeout(r, 10));

  serve.child.kill("SIGSTOP");
  const stoppedAt = Date.now();
  await bridge.reach("connecting", 10_000);
  const took = Date.now() - stoppedAt;
  t.ok(took <= 2 * heartbeatMs + 1500, `the bridge gave up on the silent server after ${took} ms (heartbeat ${heartbeatMs} ms)`);
  t.match(bridge.logs.join("\n"), /lost \(no answer to a heartbeat within 300 ms\); reconnecting/, "and says why");
  serve.child.kill("SIGCONT");
  await bridge.reach("active", 20_000);
  t.pass("it registered again once the server answered");
});
