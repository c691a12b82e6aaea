import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { rejection, startTestServer } from "../helpers/server.js";

t.test("admin and bridge authentication over a real WebSocket", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());

  const admin = await ts.admin();
  t.equal(admin.server.env, "dev");
  const status = await admin.call("server.status");
  t.equal(status.activeBridge, null);

  const wrong = await rejection(ts.connect(`mcpw_${"x".repeat(43)}`, "client"));
  t.equal(wrong.code, "unauthorized");
  t.match(wrong.message, /unknown token/);

  const bridgeTok = ts.bridgeToken("dev");
  const asClient = await rejection(ts.connect(bridgeTok, "client"));
  t.match(asClient.message, /bridge token cannot authenticate a client/);

  const expiring = ts.server.tokens.create("bridge", "dev", "short", 1);
  await new Promise((r) => setTimeout(r, 1100));
  const expired = await rejection(ts.connect(expiring.token, "bridge"));
  t.match(expired.message, /expired at/);

  const revoked = ts.server.tokens.create("bridge", "dev", "gone");
  const bridgeConn = await ts.connect(revoked.token, "bridge");
  const res = await admin.call("token.revoke", { id: revoked.info.id });
  t.equal(res.disconnected, 1, "the live connection using the token is closed");
  t.match(await bridgeConn.peer.closed(), /token revoked/);
  const afterRevoke = await rejection(ts.connect(revoked.token, "bridge"));
  t.match(afterRevoke.message, /was revoked/);

  const audit = readFileSync(join(ts.stateDir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const fails = audit.filter((e) => e.event === "auth.fail");
  t.equal(fails.length, 4, "each refused attempt is audited");
  t.ok(fails.every((e) => e.verdict === "deny" && e.remote === "127.0.0.1" && typeof e.reason === "string"));
  t.ok(audit.some((e) => e.event === "token.revoke" && e.tokenId === revoked.info.id));
});

t.test("the admin token the server uses cannot be revoked (it would lock every client out); others can", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const admin = await ts.admin();
  const e = await rejection(admin.call("token.revoke", { id: admin.tokenId }));
  t.equal(e.code, "conflict");
  t.equal(e.field, "params.id");
  t.match(e.message, new RegExp(`^${admin.tokenId} is the server's admin token \\(${ts.stateDir}/admin\\.token\\), which the CLI and TUI use`));
  t.equal((await admin.call("server.status")).env, "dev", "the admin connection still works");
  t.equal(ts.server.tokens.get(admin.tokenId)?.revokedAt, null, "and its token is not revoked");
  const other = ts.server.tokens.create("admin", null, "old-admin");
  t.ok((await admin.call("token.revoke", { id: other.info.id })).token.revokedAt, "an admin token that is not the server's current one can be revoked");
});

t.test("failed attempts are rate-limited per address, even for a right token", async (t) => {
  const ts = await startTestServer({ rateLimit: { maxFailures: 3, windowMs: 60_000, lockoutMs: 60_000 } });
  t.teardown(() => ts.close());
  for (let i = 0; i < 3; i++) {
    const e = await rejection(ts.connect(`mcpw_${String(i).repeat(43)}`, "client"));
    t.equal(e.code, "unauthorized");
  }
  const locked = await rejection(ts.admin());
  t.equal(locked.code, "rate_limited", "the right token is refused during the lockout");
  t.match(locked.message, /too many failed authentication attempts from 127\.0\.0\.1; retry in \d+ s/);
  const audit = ts.server.audit.tail(100);
  t.ok(audit.some((e) => e.event === "auth.lockout"), "the lockout is audited");
});

t.test("nothing but auth is answered before authentication, and roles are enforced", async (t) => {
  const ts = await startTestServer({ authTimeoutMs: 500 });
  t.teardown(() => ts.close());
  const raw = await ts.raw();
  const early = await raw.request("token.list", {});
  t.equal(early.error.code, "unauthorized");
  t.match(early.error.message, /authenticate first/);
  // Unauthenticated connections are closed after authTimeoutMs.
  await new Promise((r) => setTimeout(r, 800));
  t.ok(raw.closed, "closed for not authenticating in time");

  const bridge = await ts.connect(ts.bridgeToken("dev"), "bridge");
  const forbidden = await rejection(bridge.call("token.create", { env: "dev", name: "x" }));
  t.equal(forbidden.code, "forbidden");
  const wrongEnv = await rejection(bridge.call("bridge.register", { env: "prod", name: "b1", capabilities: { fs: { readonly: [], readwrite: [] }, network: { allowedDomains: [], deniedDomains: [] }, exec: [] } }));
  t.equal(wrongEnv.code, "forbidden");
  t.match(wrongEnv.message, /token is for environment "dev", not "prod"/);
});
