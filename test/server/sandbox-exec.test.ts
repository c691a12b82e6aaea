import t from "tap";
import type { ServerConnection } from "../../client/server-connection.js";
import type { EventData } from "../../protocol/methods.js";
import { enterSandboxArgv, sandboxTerminalArgv, shellQuote } from "../../server/sandbox-exec.js";
import { rejection } from "../helpers/server.js";
import { serverFor } from "../helpers/tui.js";
import { until } from "../helpers/until.js";

async function sleeper(admin: ServerConnection): Promise<string> {
  const sb = await admin.call("sandbox.create", { command: ["node", "-e", "setInterval(() => {}, 1000)"] });
  await until("it to run", async () => (await admin.call("sandbox.status", { id: sb.id })).state === "running");
  return sb.id;
}

/** Runs a command through sandbox.exec on `conn`; collects the stream and the exit event. */
async function execOnce(conn: ServerConnection, id: string, command: string[]) {
  const streamId = conn.peer.streams.allocateId();
  const stream = conn.peer.streams.open(streamId);
  const chunks: Buffer[] = [];
  let endSeen = false;
  let exitSeenBeforeEnd = false;
  const exit = new Promise<EventData<"sandbox.exec.exit">>((resolve) =>
    conn.peer.onEvent((e, d) => {
      if (e !== "sandbox.exec.exit") return;
      exitSeenBeforeEnd = !endSeen;
      resolve(d as EventData<"sandbox.exec.exit">);
    }),
  );
  const ended = new Promise<void>((resolve) =>
    stream.on("end", () => {
      endSeen = true;
      resolve();
    }),
  );
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.on("error", () => undefined);
  const started = await conn.call("sandbox.exec", { id, command, stream: streamId, cols: 120, rows: 40 });
  await ended;
  stream.end();
  return { started, exit: await exit, output: Buffer.concat(chunks).toString("latin1"), exitSeenBeforeEnd };
}

t.test("the argv that enters a sandbox: every step in the open, the command quoted for script", async (t) => {
  const tools = { nsenter: "/usr/bin/nsenter", setpriv: "/usr/bin/setpriv", env: "/usr/bin/env", script: "/usr/bin/script" };
  const inner = sandboxTerminalArgv(tools, ["sh", "-c", "echo 'it''s' $HOME"]);
  t.same(inner.slice(0, 5), ["/usr/bin/script", "--quiet", "--return", "--flush", "--command"]);
  t.equal(inner[5], `exec sh -c 'echo '\\''it'\\'''\\''s'\\'' $HOME'`);
  t.equal(shellQuote("/bin/sh"), "/bin/sh");
  const argv = enterSandboxArgv({ pid: 42, namespaces: ["user", "mount", "pid", "net"], uid: 65534, gid: 65534, groups: [] }, tools, ["/bin/sh"]);
  t.same(argv, [
    "/usr/bin/nsenter", "--target=42", "--user", "--mount", "--pid", "--net", "--root", "--wdns=/mount", "--setuid=65534", "--setgid=65534", "--",
    "/usr/bin/setpriv", "--no-new-privs", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--",
    "/usr/bin/env", "-u", "PWD", "--", "/bin/sh",
  ]);
  // As root, the program's supplementary group (its run dir's group) is set before nsenter, which keeps it.
  const withGroup = enterSandboxArgv({ pid: 42, namespaces: ["user", "mount", "pid", "net"], uid: 65534, gid: 65534, groups: [0x70000001] }, tools, ["/bin/sh"]);
  t.same(withGroup, [
    "/usr/bin/setpriv", "--groups", String(0x70000001), "--",
    "/usr/bin/nsenter", "--target=42", "--user", "--mount", "--pid", "--net", "--root", "--wdns=/mount", "--preserve-credentials", "--setuid=65534", "--setgid=65534", "--",
    "/usr/bin/setpriv", "--no-new-privs", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--",
    "/usr/bin/env", "-u", "PWD", "--", "/bin/sh",
  ]);
});

t.test("output larger than the stream window arrives whole, then the exit status, then the end", async (t) => {
  const ts = await serverFor(t);
  const admin = await ts.admin();
  const id = await sleeper(admin);
  // 3 MB without a line break: three times the 1 MiB stream window, byte for byte through two ptys.
  const r = await execOnce(admin, id, ["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a; exit 7"]);
  t.match(r.started.execId, /^ex_[a-f0-9]{12}$/);
  t.equal(r.output.split("a").length - 1, 3_000_000, "every byte", { head: r.output.slice(0, 300) });
  t.same({ code: r.exit.code, signal: r.exit.signal }, { code: 7, signal: null });
  t.equal(r.exit.execId, r.started.execId);
  t.ok(r.exitSeenBeforeEnd, "the exit event comes before the stream's end");
});

t.test("bad requests: a stream id from the server's range, a sandbox that is not running, someone else's session", async (t) => {
  const ts = await serverFor(t);
  const admin = await ts.admin();
  const id = await sleeper(admin);
  const even = await rejection(admin.call("sandbox.exec", { id, stream: 2 }));
  t.equal(even.code, "bad_params");
  t.equal(even.field, "params.stream");
  const stopped = await admin.call("sandbox.create", { command: ["node", "-e", "1"], start: false });
  const notRunning = await rejection(admin.call("sandbox.exec", { id: stopped.id, stream: 1 }));
  t.equal(notRunning.code, "conflict");
  t.match(notRunning.message, /is not running \(state: created\)/);
  const badTerm = await rejection(admin.call("sandbox.exec", { id, stream: 1, term: "xterm; rm -rf /" }));
  t.equal(badTerm.field, "params.term");

  const streamId = admin.peer.streams.allocateId();
  admin.peer.streams.open(streamId).on("error", () => undefined).resume();
  const { execId } = await admin.call("sandbox.exec", { id, command: ["sleep", "30"], stream: streamId });
  t.same(await admin.call("sandbox.exec.resize", { execId, cols: 100, rows: 30 }), { ok: true });
  const other = await ts.admin();
  const foreign = await rejection(other.call("sandbox.exec.resize", { execId, cols: 10, rows: 10 }));
  t.equal(foreign.code, "not_found", "only the connection that started a session may resize it");
  await admin.call("sandbox.stop", { id });
  t.pass("stopping the sandbox ends its exec sessions with it");
  await until("the session to end", () => ts.server.execs.size === 0);
});
