import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import type { SandboxInfo } from "../../protocol/methods.js";
import type { ServerConnection } from "../../client/server-connection.js";
import { rejection, startTestServer, tempDir } from "../helpers/server.js";
import { until } from "../helpers/until.js";

const stateOf = (admin: ServerConnection, id: string, state: SandboxInfo["state"]) =>
  until(`${id} to be ${state}`, async () => {
    const s = await admin.call("sandbox.status", { id });
    return s.state === state ? s : null;
  });

t.test("sandbox lifecycle: create, logs, stop, restart, crash report", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const admin = await ts.admin();

  const created = await admin.call("sandbox.create", {
    name: "sleeper",
    command: ["node", "-e", "console.error('hello from ' + process.cwd()); setInterval(() => {}, 1000)"],
  });
  t.match(created.id, /^sb-[a-z0-9]{8}$/);
  t.equal(created.isolation.bubblewrap?.startsWith("on"), true, "runs under bubblewrap");
  await stateOf(admin, created.id, "running");
  const logs = await until("the stderr line", async () => {
    const { lines } = await admin.call("sandbox.logs", { id: created.id });
    return lines.find((l) => l.stream === "stderr") ? lines : null;
  });
  t.ok(logs.some((l) => l.text === "hello from /mount"), "stderr is captured and the cwd is /mount", { logs });

  const list = await admin.call("sandbox.list");
  t.same(list.sandboxes.map((s) => s.id), [created.id]);

  const stopped = await admin.call("sandbox.stop", { id: created.id });
  t.equal(stopped.state, "exited");
  t.equal(stopped.exit?.reason, "stopped by request");

  const restarted = await admin.call("sandbox.restart", { id: created.id });
  t.equal(restarted.restarts, 1);
  await stateOf(admin, created.id, "running");
  await admin.call("sandbox.remove", { id: created.id });
  t.same((await admin.call("sandbox.list")).sandboxes, []);

  const crasher = await admin.call("sandbox.create", { command: ["node", "-e", "console.error('about to fail'); process.exit(3)"] });
  const exited = await stateOf(admin, crasher.id, "exited");
  t.equal(exited.exit?.code, 3);
  t.equal(exited.exit?.reason, "exited with code 3", "the crash is reported with its reason");
  t.equal((await admin.call("server.status")).sandboxes, 1, "and the server carries on");
  const audit = await admin.call("audit.tail", { filter: { sandbox: crasher.id } });
  t.ok(audit.entries.some((e) => e.event === "sandbox.exit" && e.reason === "exited with code 3"), "exit is audited");
});

t.test("bad sandbox requests get one clear error and leave nothing behind", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const admin = await ts.admin();
  const missing = await rejection(admin.call("sandbox.create", { command: ["no-such-command-xyz"] }));
  t.equal(missing.code, "not_found");
  t.match(missing.message, /command not found: no-such-command-xyz/);
  const file = join(tempDir("mcpw-ws-"), "a-file");
  writeFileSync(file, "x");
  const notDir = await rejection(admin.call("sandbox.create", { command: ["node", "-e", "1"], workspace: file }));
  t.match(notDir.message, /workspace .* is not a directory/);
  const badPolicy = await rejection(admin.call("sandbox.create", { command: ["node"], policy: { limits: { memMb: "lots" } } as never }));
  t.equal(badPolicy.field, "params.policy.limits.memMb");
  t.same((await admin.call("sandbox.list")).sandboxes, [], "no half-created sandbox is registered");
  const noSuch = await rejection(admin.call("sandbox.stop", { id: "sb-00000000" }));
  t.equal(noSuch.code, "not_found");
});

t.test("MCP requests reach a real sandboxed MCP server (server-everything), initialized lazily", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const admin = await ts.admin();
  const sb = await admin.call("sandbox.create", { command: ["node", join(process.cwd(), "node_modules/@modelcontextprotocol/server-everything/dist/index.js"), "stdio"] });
  await stateOf(admin, sb.id, "running");
  const tools = (await admin.call("sandbox.mcp", { id: sb.id, message: { jsonrpc: "2.0", id: 7, method: "tools/list" } })).response as {
    id: number;
    result: { tools: { name: string }[] };
  };
  t.equal(tools.id, 7, "the client's own id comes back");
  t.ok(tools.result.tools.some((x) => x.name === "echo"));
  const echo = (await admin.call("sandbox.mcp", { id: sb.id, message: { jsonrpc: "2.0", id: "e1", method: "tools/call", params: { name: "echo", arguments: { message: "hi" } } } }))
    .response as { result: { content: { text: string }[] } };
  t.match(echo.result.content[0]!.text, /hi/);
});

t.test("a server sandbox ended by a limit says which limit", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const admin = await ts.admin();
  const looper = await admin.call("sandbox.create", { command: ["node", "-e", "setInterval(() => {}, 1000)"], policy: { limits: { timeoutMs: 1000 } } });
  const timedOut = await stateOf(admin, looper.id, "exited");
  t.equal(timedOut.exit?.reason, "timeout (timeoutMs=1000)");
  const flood = await admin.call("sandbox.create", { command: ["node", "-e", "const b = 'x'.repeat(65536); (function w() { process.stdout.write(b, w); })()"], policy: { limits: { stdoutBytes: 100000 } } });
  t.equal((await stateOf(admin, flood.id, "exited")).exit?.reason, "stdout limit (stdoutBytes=100000)");
  const fds = await admin.call("sandbox.create", { command: ["python3", "-c", "import os\nfds = [os.open('/dev/null', 0) for _ in range(100)]"], policy: { limits: { openFiles: 32 } } });
  t.match((await stateOf(admin, fds.id, "exited")).exit?.reason, /^open files limit \(openFiles=32\): exited with code 1, after "Too many open files"/);
});

t.test("the kernel's limits, hit by a server sandbox, are named in its exit reason too", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const admin = await ts.admin();
  // Each bomb is bounded (a few times its limit), so the test cannot hurt the machine if a limit fails.
  const cases: [string, string[], Record<string, number>, RegExp][] = [
    ["memMb", ["python3", "-c", "b = [bytearray(16 << 20) for _ in range(64)]"], { memMb: 256 }, /^memory limit \(memMb=256\): exited with code 1, after "MemoryError"/],
    ["maxProcs", ["python3", "-c", "import os, sys, time\nfor _ in range(96):\n  try:\n    pid = os.fork()\n  except OSError as e:\n    sys.exit(f'fork: {e}')\n  if pid == 0:\n    time.sleep(3); os._exit(0)"], { maxProcs: 32 }, /^process limit \(maxProcs=32\): exited with code 1, after "Resource temporarily unavailable"/],
    ["maxFileMb", ["python3", "-c", "open('big', 'wb').write(bytes(32 << 20))"], { maxFileMb: 8 }, /^file size limit \(maxFileMb=8\): exited with code 1, after "File too large"/],
    ["cpuSeconds", ["node", "-e", "const end = Date.now() + 30000; while (Date.now() < end);"], { cpuSeconds: 1 }, /^cpu limit \(cpuSeconds=1\): (killed by SIGXCPU|exited with code 152 \(SIGXCPU\))/],
  ];
  await Promise.all(
    cases.map(async ([name, command, limits, reason]) => {
      const sb = await admin.call("sandbox.create", { name, command, policy: { limits } });
      t.match((await stateOf(admin, sb.id, "exited")).exit?.reason, reason, name);
    }),
  );
});
