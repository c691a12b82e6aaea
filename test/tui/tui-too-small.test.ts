import { setTimeout as sleep } from "node:timers/promises";
import t from "tap";
import { key, serverFor, tuiOn } from "../helpers/tui.js";

const SMALL = /needs at\s+least\s+60x16/;

t.test("a terminal too small for a while keeps the open page (a half-typed form, the token shown once); keys wait for the page to show again", async (t) => {
  const ts = await serverFor(t);
  const app = await tuiOn(t, ts);
  await key(app, "3", "[3 Tokens]");
  await key(app, "n", "New bridge token");
  await key(app, "\r", /> name\s+:/);
  app.press("keep-me");
  await app.waitFor(/> name\s+: keep-me/);

  app.resize(40, 10);
  await app.waitFor(SMALL);
  // Keys one read at a time (a burst with Esc in it is dropped by the form anyway).
  app.press("zz");
  await sleep(500);
  app.press("\r"); // would move to the next field, if the form were not hidden
  await sleep(1000);
  app.resize(80, 24);
  const form = await app.waitFor(/New bridge token[^]*name\s+: keep-me/);
  t.notMatch(form, /keep-mezz/, "what was typed while the form was hidden went nowhere");
  t.match(form, /> name\s+: keep-me/, "the focus is still on the name");

  await key(app, "\r", /> expires\s+: 30d/);
  const shown = await key(app, "\r", "This is the only time the token is shown");
  const token = /mcpw_[A-Za-z0-9_-]{43}/.exec(shown)?.[0];
  t.ok(token, "the token is on the screen");

  app.resize(40, 10);
  await app.waitFor(SMALL);
  app.press("\r"); // Enter would drop the token for good, if the page were not hidden
  await sleep(1000);
  app.resize(80, 24);
  const again = await app.waitFor("This is the only time the token is shown");
  t.ok(again.includes(token!), "the same token is shown again once the terminal is big enough");

  app.resize(40, 10);
  await app.waitFor(SMALL);
  app.press("q");
  t.equal((await app.exited).exitCode, 0, "q still quits while the terminal is too small, even over a page that has the keyboard");
});
