import t from "tap";
import { startTestBridge, bridgeTree } from "../helpers/bridge.js";
import { key, lineWith, serverFor, tuiOn } from "../helpers/tui.js";

t.test("tokens: create one (shown once), a bridge uses it and shows up, revoke it (with a confirmation) and the bridge is gone", async (t) => {
  const ts = await serverFor(t);
  const app = await tuiOn(t, ts);
  await key(app, "3", "[3 Tokens]");
  await key(app, "n", "New bridge token");
  await key(app, "\r", /> name\s+:/); // environment: the server's, "dev"
  app.press("tui-bridge");
  await app.waitFor(/> name\s+: tui-bridge/);
  await key(app, "\r", /> expires\s+: 30d/);
  const shown = await key(app, "\r", "This is the only time the token is shown");
  const token = /mcpw_[A-Za-z0-9_-]{43}/.exec(shown)?.[0];
  t.ok(token, "the token is on the screen", { shown });
  t.match(shown, /Created tok_[a-f0-9]{16} "tui-bridge" for environment dev, expires\s+in\s+29d23h/);
  t.match(shown, "mcpw bridge --env dev --token-file <file>", "how to use it");
  t.match(shown, /press c to send it to\s+your terminal's clipboard/, "a copy hint");
  app.capture("tokens-created");
  const list = await key(app, "\r", /tui-bridge\s+dev\s+valid/);
  t.notOk(list.includes(token!), "once dismissed, the token is never shown again");
  t.match(lineWith(list, "tui-bridge"), /^> tok_[a-f0-9]{16} tui-bridge\s+dev\s+valid\s+\d+s\s+in 29d23h never/, "selected, with created / expiry / last used");

  const bridge = startTestBridge(ts.url, token!, "dev", "tui-bridge", { filesystem: { readonly: [bridgeTree().allowed] } });
  await bridge.reach("active");
  const tokens = await app.waitFor(/tui-bridge\s+dev\s+valid\s+\S+\s+in 29d23h \d+s ago/);
  t.pass("last use appears once the bridge authenticated");
  app.capture("tokens");
  t.ok(tokens);

  const bridges = await key(app, "2", /tui-bridge\s+dev\s+SERVING/);
  t.match(bridges, "Selected environment: dev   served by tui-bridge");
  t.match(bridges, /fs read\s+\/\S+\/allowed/, "its capabilities");
  t.match(bridges, /-- tui-bridge \(br_[a-f0-9]+\) from 127\.0\.0\.1/);
  app.capture("bridges");

  await key(app, "3", "[3 Tokens]");
  const confirm = await key(app, "d", /Revoke tok_[a-f0-9]{16} \(tui-bridge, env dev\)\?/);
  t.match(confirm, "y: revoke, any other key: keep");
  app.capture("tokens-revoke");
  const revoked = await key(app, "y", /tui-bridge\s+dev\s+revoked/);
  t.match(revoked, /revoked tok_[a-f0-9]{16} \(tui-bridge\); 1 connection\(s\) closed/);
  t.match(String(await bridge.running), /revoked/, "the bridge was told, and stopped");
  const gone = await key(app, "2", "No bridges connected");
  t.match(gone, "NO ACTIVE BRIDGE: privileged operations fail");

  const audit = await key(app, "4", /token\.revoke/);
  t.match(audit, /token\.create/);
});

t.test("a bad expiry is said under the form, and nothing is created", async (t) => {
  const ts = await serverFor(t);
  const app = await tuiOn(t, ts);
  await key(app, "3", "[3 Tokens]");
  await key(app, "n", "New bridge token");
  app.press("\rci\r\x15soon\r"); // keep dev, name "ci", replace 30d with "soon", submit: one burst, as a paste
  const screen = await app.waitFor("expires: expected a duration");
  t.match(screen, /> expires\s+: soon/, "the form stays, with what was typed");
  await key(app, "\x1b", /n new token\s+d revoke/);
  t.equal((await (await ts.admin()).call("token.list")).tokens.length, 1, "only the admin token");
});

t.test("a revoke can be called off", async (t) => {
  const ts = await serverFor(t);
  ts.bridgeToken("dev");
  const app = await tuiOn(t, ts);
  await key(app, "3", /test-dev\s+dev\s+valid/);
  await key(app, "j", /> tok_[a-f0-9]{16} test-dev/);
  await key(app, "d", "Revoke");
  const kept = await key(app, "n", /n new token\s+d revoke/);
  t.match(kept, /test-dev\s+dev\s+valid/, "still valid");
  t.equal((await (await ts.admin()).call("token.list")).tokens.filter((x) => x.revokedAt).length, 0);
});
