import { join } from "node:path";
import t from "tap";
import { key, lineWith, serverFor, tuiOn } from "../helpers/tui.js";
import { until } from "../helpers/until.js";

const EVERYTHING = join(process.cwd(), "node_modules/@modelcontextprotocol/server-everything/dist/index.js");

t.test("sandboxes: create one from the TUI, read its logs live, stop, start, restart, remove", async (t) => {
  const ts = await serverFor(t);
  const app = await tuiOn(t, ts);
  await app.waitFor("No sandboxes yet: press n");

  await key(app, "n", "New sandbox");
  app.press(`node -e "console.error('hello from the sandbox'); setInterval(() => console.error('tick'), 300)"`);
  await app.waitFor(/> command : .*setInterval/);
  await key(app, "\t", /> name\s+:/);
  app.press("talker");
  await app.waitFor(/> name\s+: talker/);
  const created = await key(app, "\r", /created sb-[a-z0-9]{8} \(talker\)/);
  const id = /created (sb-[a-z0-9]{8})/.exec(created)![1]!;
  const running = await app.waitFor(new RegExp(`> ${id} talker\\s+dev\\s+running\\s+\\d+s\\s+\\d[\\d.]*[KMG]\\s+`));
  t.match(lineWith(running, id), /node -e consol/, "id, name, environment, state, uptime, memory, CPU, restarts, command");
  t.match(running, `-- ${id} talker`, "the details of the selected sandbox");
  t.match(running, /isolation\s+bubblewrap: on/);
  await app.waitFor(new RegExp(`${id} talker\\s+dev\\s+running\\s+\\S+\\s+\\S+\\s+\\d+(\\.\\d)?%`));
  t.pass("CPU shows once two samples were taken");
  app.capture("sandboxes");

  await key(app, "l", `Logs of ${id} (talker, running) - following`);
  const logs = await app.waitFor(/\d\d:\d\d:\d\d hello from the sandbox/);
  t.match(logs, /\[mcpw\] started: /, "lifecycle lines too");
  const ticks = (s: string) => s.split("\n").filter((l) => l.endsWith(" tick")).length;
  await app.waitFor((s) => ticks(s) >= 3);
  t.pass("new lines arrive while the page is open");
  app.capture("logs");
  await key(app, "k", /lines \d+-\d+ of \d+; G to follow/);
  await key(app, "G", "following");
  await key(app, "\x1b", "s start  x stop");

  const stopped = await key(app, "x", new RegExp(`${id} talker\\s+dev\\s+stopped`));
  t.match(stopped, /state\s+stopped by request at \d\d:\d\d:\d\d/, "the reason it ended");
  await key(app, "s", new RegExp(`${id} talker\\s+dev\\s+running`));
  const restarted = await key(app, "r", new RegExp(`${id} talker\\s+dev\\s+running\\s+\\S+\\s+\\S+\\s+\\S+\\s+1 `));
  t.match(restarted, /restarted sb-/);

  await key(app, "d", `Remove ${id} (talker)?`);
  await key(app, "y", "No sandboxes yet");
  const admin = await ts.admin();
  t.same((await admin.call("sandbox.list")).sandboxes, [], "removed on the server");
});

t.test("sandboxes: send an MCP request: pick a tool from tools/list, edit its arguments, read the result", async (t) => {
  const ts = await serverFor(t);
  const admin = await ts.admin();
  await admin.call("sandbox.create", { name: "sleeper", command: ["node", "-e", "setInterval(() => {}, 1000)"] });
  const sb = await admin.call("sandbox.create", { name: "everything", command: ["node", EVERYTHING, "stdio"] });
  await until("it to run", async () => (await admin.call("sandbox.status", { id: sb.id })).state === "running");
  const app = await tuiOn(t, ts);
  await app.waitFor(/> sb-[a-z0-9]{8} sleeper/);
  await key(app, "j", new RegExp(`> ${sb.id} everything\\s+dev\\s+running`));

  const tools = await key(app, "m", /pick a tool \(\d+ from tools\/list\)/);
  t.match(tools, /echo\s+Echoes back the input string/);
  for (let i = 0; i < 20 && !/^> echo /m.test(app.text); i++) await key(app, "j", /> \S+/);
  await app.waitFor(/^> echo /m);
  const editor = await key(app, "\r", "tools/call echo - arguments (JSON)");
  t.match(editor, /"message": ""/, "a template from the tool's input schema");
  app.press("hello from the TUI");
  await app.waitFor(/"message": "hello from the TUI"/);
  app.capture("mcp-edit");
  const result = await key(app, "\x13", "result of echo");
  t.match(result, "Echo: hello from the TUI");
  app.capture("mcp-result");
  const raw = await key(app, "r", /"jsonrpc": "2\.0"/);
  t.match(raw, /"id": "tui-\d+"/, "the whole response, with the TUI's own id");

  await key(app, "e", "tools/call echo - arguments (JSON)");
  app.press("\x01\x0b"); // ^A then ^K in one read: cut the line
  await app.waitFor((s) => !s.includes('"message"'));
  const refused = await key(app, "\x13", "tool reported an error:");
  t.match(refused, /Invalid arguments for tool echo/, "the server's own refusal is shown as the result");
  await key(app, "e", "tools/call echo - arguments (JSON)");
  app.press("oops");
  await app.waitFor("oops");
  const bad = await key(app, "\x13", "not valid JSON");
  t.match(bad, /not valid JSON: /, "bad JSON is caught before it is sent");
  await key(app, "\x1b", /pick a tool/);
  await key(app, "\x1b", "s start  x stop");
});
