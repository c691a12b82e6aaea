import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { TokenStore } from "../../server/tokens.js";
import { rejection, tempDir } from "../helpers/server.js";

t.test("tokens are 256-bit, shown once, stored only as SHA-256 hashes in a 0600 file", async (t) => {
  const dir = tempDir("mcpw-tokens-");
  const store = new TokenStore({ dir });
  const { token, info } = store.create("bridge", "dev", "laptop");
  t.match(token, /^mcpw_[A-Za-z0-9_-]{43}$/);
  t.equal(Buffer.from(token.slice(5), "base64url").length, 32, "32 random bytes");
  const file = readFileSync(join(dir, "tokens.json"), "utf8");
  t.notOk(file.includes(token.slice(5)), "the token itself is not stored");
  t.equal(statSync(join(dir, "tokens.json")).mode & 0o777, 0o600);
  t.equal(store.verify(token, "bridge").id, info.id);
  t.notOk("token" in info || "hash" in info, "public info carries neither token nor hash");
  // A second store reads the same file.
  t.equal(new TokenStore({ dir }).verify(token, "bridge").id, info.id);
});

t.test("verify refuses malformed, unknown, expired, revoked and wrong-kind tokens, naming why", async (t) => {
  let now = new Date("2026-01-01T00:00:00Z");
  const store = new TokenStore({ dir: null, now: () => now });
  const { token: bridgeTok, info } = store.create("bridge", "dev", "b", 60);
  const { token: adminTok } = store.create("admin", null, "admin");
  const msg = async (token: string, role: "client" | "bridge") => (await rejection(Promise.resolve().then(() => store.verify(token, role)))).message;
  t.match(await msg("hello", "bridge"), /malformed token/);
  t.match(await msg(`mcpw_${"A".repeat(43)}`, "bridge"), /unknown token/);
  t.match(await msg(adminTok, "bridge"), /admin token cannot authenticate a bridge/);
  t.match(await msg(adminTok, "bridge"), /^an admin token cannot authenticate a bridge; use a bridge token$/, "grammar: an admin token");
  t.match(await msg(bridgeTok, "client"), /^a bridge token cannot authenticate a client; use an admin token$/);
  t.match(await msg(bridgeTok, "client"), /bridge token cannot authenticate a client/);
  now = new Date("2026-01-01T00:01:01Z");
  t.match(await msg(bridgeTok, "bridge"), /expired at 2026-01-01T00:01:00/);
  const { token: other, info: otherInfo } = store.create("bridge", "dev", "c");
  store.revoke(otherInfo.id);
  t.match(await msg(other, "bridge"), /was revoked/);
  t.equal(store.get(info.id)?.lastUsedAt, null, "failed checks do not count as use");
});

t.test("a corrupt token store is an error naming the file, not a silent reset", async (t) => {
  const dir = tempDir("mcpw-tokens-");
  writeFileSync(join(dir, "tokens.json"), "{ not json");
  t.throws(() => new TokenStore({ dir }), /tokens\.json is not valid JSON/);
  writeFileSync(join(dir, "tokens.json"), JSON.stringify({ version: 1, tokens: [{ id: "x" }] }));
  t.throws(() => new TokenStore({ dir }), /tokens\.json is malformed at tokens\.0/);
});

t.test("ensureAdminToken writes a 0600 admin token once and replaces a revoked one", async (t) => {
  const dir = tempDir("mcpw-tokens-");
  const store = new TokenStore({ dir });
  const first = store.ensureAdminToken(dir);
  t.ok(first.created);
  t.equal(statSync(first.path).mode & 0o777, 0o600);
  const token = readFileSync(first.path, "utf8").trim();
  t.notOk(store.ensureAdminToken(dir).created, "kept while valid");
  store.revoke(store.verify(token, "client").id);
  t.ok(store.ensureAdminToken(dir).created, "replaced after revocation");
  t.not(readFileSync(first.path, "utf8").trim(), token);
});
