import { writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import t from "tap";
import type { ServerConnection } from "../../client/server-connection.js";
import { ADMIN_TOKEN_FILE } from "../../server/tokens.js";
import { PtyApp } from "../helpers/pty-app.js";
import type { TestServer } from "../helpers/server.js";
import { serverFor } from "../helpers/tui.js";
import { until } from "../helpers/until.js";

async function sleeper(admin: ServerConnection): Promise<string> {
  const sb = await admin.call("sandbox.create", { name: "sleeper", command: ["node", "-e", "setInterval(() => {}, 1000)"] });
  await until("it to run", async () => (await admin.call("sandbox.status", { id: sb.id })).state === "running");
  return sb.id;
}

function exec(ts: TestServer, args: string[], size = { cols: 80, rows: 24 }): PtyApp {
  return PtyApp.mcpw(["sandbox", "exec", ...args], { ...size, env: { MCPW_SERVER: ts.url, MCPW_TOKEN_FILE: join(ts.stateDir, ADMIN_TOKEN_FILE) } });
}

/**
 * Types `line` into the shell, waits for the marker `done-<n>` it prints last and for the prompt
 * after it, and returns the output with line ends as "\n" (the client's terminal, in Node's raw
 * mode, keeps ONLCR: "\r\r\n"). Waiting for the prompt matters: a line typed before the shell has
 * printed it is echoed first, and the prompt then lands in front of the command's first output line.
 */
async function run(app: PtyApp, line: string, marker: number): Promise<string> {
  app.press(`${line}; echo done-$((${marker}+0))\r`);
  return (await app.waitForOutput(new RegExp(`\r\ndone-${marker}\r+\n[$#] $`))).replace(/\r+\n/g, "\n");
}

t.test("an interactive shell inside the sandbox: its files, its namespaces, no capabilities, window size, exit status", async (t) => {
  const ts = await serverFor(t);
  const admin = await ts.admin();
  const id = await sleeper(admin);
  const { workspace } = await admin.call("sandbox.status", { id });
  writeFileSync(join(workspace, "marker.txt"), "seen through /mount\n");

  const app = exec(ts, [id]);
  t.teardown(() => app.kill());
  await app.waitForOutput(/[$#] $/);
  // Each command ends by printing a marker the shell computes, so the echo of the typed line never matches.
  let out = await run(app, "pwd; cat /mount/marker.txt; echo HOME=$HOME", 1);
  t.match(out, /\n\/mount\nseen through \/mount\nHOME=\/mount\n/, "it starts in /mount and sees the workspace");
  out = await run(app, `ls -d ${homedir()} 2>&1`, 2);
  t.match(out, new RegExp(`ls: cannot access '${homedir()}': No such file or directory`), "the host's home is not there");
  out = await run(app, "hostname; grep -c . /proc/net/dev; grep -E '^(CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status", 3);
  t.match(out, `mcpw-${id}`, "the sandbox's uts namespace");
  t.match(out, /\n3\n/, "the sandbox's network namespace: a header of two lines and lo");
  for (const set of ["CapInh", "CapPrm", "CapEff", "CapAmb"]) t.match(out, new RegExp(`${set}:\\s+0000000000000000`), `no capabilities (${set})`);
  t.match(out, /NoNewPrivs:\s+1/);
  t.match(out, /Seccomp:\s+2/, "the sandbox's seccomp filter applies to the shell too");
  out = await run(app, "unshare --user --map-root-user id -u 2>&1; touch /opt/mcpw/x /etc/x 2>&1", 30);
  t.match(out, /unshare: unshare failed: Operation not permitted/, "a new user namespace, the way to a full capability set, is refused");
  t.notMatch(out, /\n0\n/, "and never becomes root");
  t.match(out, /touch: cannot touch '\/opt\/mcpw\/x': (Read-only file system|Permission denied)/);
  out = await run(app, `node -e "fetch('http://example.com').catch((e) => console.log('refused:', e.cause.message))"`, 31);
  t.match(out, /refused: .*\(mcpw: (no active bridge|host "example\.com:80" is not in)/, "its node runs with the sandbox's interceptors and policy");
  out = await run(app, "echo procs: $(cat /proc/[0-9]*/comm | sort -u)", 4);
  const procs = /\nprocs: (.*)\n/.exec(out)?.[1] ?? "";
  t.match(procs, /\bbwrap\b.*\bnode\b.*\bsh\b/, "the sandbox's processes are visible", { procs });
  t.notMatch(procs, /\bnsenter\b|\btap\b|\bsystemd\b|\binit\b/, "the host's are not");
  out = await run(app, "stty size; tty", 5);
  t.match(out, /\n24 80\n\/dev\/pts\/\d+\n/, "a terminal of the client's size, on the sandbox's own pty");

  app.resize(100, 30);
  // The window change travels as its own request; ask until the shell sees it.
  await until("the new size inside", async () => {
    app.press("stty size\r");
    await new Promise((r) => setTimeout(r, 300));
    return /30 100\r+\n/.test(app.raw);
  });
  t.pass("window-size changes are passed on");

  app.press("exit 3\r");
  const exit = await app.exited;
  t.equal(exit.exitCode, 3, "mcpw exits with the shell's status");
  const audit = await admin.call("audit.tail", { filter: { sandbox: id } });
  t.ok(audit.entries.some((e) => e.event === "sandbox.exec" && e.command === "/bin/sh"), "the exec is audited");
  t.ok(audit.entries.some((e) => e.event === "sandbox.exec.exit" && e.code === 3), "and its end");
});

t.test("a command instead of a shell; errors for a sandbox that is not running", async (t) => {
  const ts = await serverFor(t);
  const admin = await ts.admin();
  const id = await sleeper(admin);
  const cmd = exec(ts, [id, "--", "sh", "-c", "echo answer=$((6 * 7)) in $(pwd)"]);
  t.teardown(() => cmd.kill());
  await cmd.waitForOutput("answer=42 in /mount");
  t.equal((await cmd.exited).exitCode, 0);

  const killed = exec(ts, [id, "--", "sh", "-c", "kill -9 $$"]);
  t.equal((await killed.exited).exitCode, 137, "killed by SIGKILL: 128 + 9");

  await admin.call("sandbox.stop", { id });
  const stopped = exec(ts, [id]);
  await stopped.waitForOutput(`sandbox ${id} is not running (state: exited)`);
  t.equal((await stopped.exited).exitCode, 1);
  const none = exec(ts, ["sb-00000000"]);
  await none.waitForOutput("no sandbox with id sb-00000000");
});

t.test("when the client goes away, the shell and what it started are ended", async (t) => {
  const ts = await serverFor(t);
  const admin = await ts.admin();
  const id = await sleeper(admin);
  const processes = async () => (await admin.call("sandbox.stats", { id })).stats[0]?.processes ?? 0;
  // bubblewrap's init and node
  const before = await until("the sandbox's two processes", async () => ((await processes()) >= 2 ? processes() : null));
  const app = exec(ts, [id]);
  t.teardown(() => app.kill());
  await app.waitForOutput(/[$#] $/);
  app.press("sleep 1000 & sleep 1000\r");
  const during = await until("the shell's processes to be counted", async () => {
    const n = await processes();
    return n >= before + 3 ? n : null; // script, sh, two sleeps
  });
  t.ok(during >= before + 3, "the sandbox's process count includes the exec'd shell and its children");
  app.kill();
  await until("them to be gone", async () => (await processes()) === before);
  t.pass("all gone once the client disconnected");
});
