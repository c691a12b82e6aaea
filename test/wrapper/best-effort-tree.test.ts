import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { stateOf } from "../../native/process-tree.js";
import { Policy } from "../../protocol/policy.js";
import { configureSandbox, prepareSandbox } from "../../wrapper/launcher.js";
import { MCPW } from "../helpers/python.js";
import { sandboxWorkspace } from "../helpers/server.js";

/**
 * Best-effort mode (no bubblewrap) has no pid namespace whose end takes every process with it. A
 * server that double-forks and calls setsid() left its grandchild running after the sandbox
 * ended, re-parented to init, and `mcpw run` waited for as long as that grandchild held the
 * program's stderr. Now the sandbox runs under a subreaper (native/reaper.ts) that keeps such
 * processes in its tree and kills them when the program ends, and mcpw's stop kills that tree.
 */

const NO_BWRAP = { MCPW_BWRAP: "/nonexistent/bwrap" };
// Reachable by uid 65534 (the sandbox's uid as root): best-effort mode cannot stage a Python under /root.
const PYTHON = "/usr/bin/python3";

/** Double-forks; the grandchild (a new session) writes its pid to grandchild.pid in the cwd, keeps stdio and sleeps. */
const daemonize = (then: string) => `
import os, sys, time
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open("grandchild.pid", "w") as f:
            f.write(str(os.getpid()))
        os.write(w, b"x")
        sys.stderr.write("grandchild keeps stderr\\n")
        time.sleep(60)
        os._exit(0)
    os._exit(0)
os.close(w)
os.read(r, 1)
${then}
`;

/** Whether `pid` has gone (or is a zombie nobody needs to kill), waiting up to `ms` for it. */
async function gone(pid: number, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    const s = stateOf(pid);
    if (s === null || s.state === "Z" || s.state === "X") return true;
  }
  return false;
}

function grandchildOf(workspace: string, t: Test): number {
  const pid = Number(readFileSync(join(workspace, "grandchild.pid"), "utf8"));
  // Whatever the outcome, the test leaves nothing running.
  t.teardown(() => {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  });
  return pid;
}

const skip = !existsSync(PYTHON) && `needs ${PYTHON}`;

t.test("mcpw run, best-effort: returns when the program exits, and its setsid'd grandchild is gone", { skip }, async (t) => {
  const ws = sandboxWorkspace();
  const started = Date.now();
  const child = spawn(process.execPath, [MCPW, "run", "-q", "--isolation", "best-effort", "--mount", ws, "--", PYTHON, "-c", daemonize("sys.exit(7)")], {
    env: { ...process.env, ...NO_BWRAP },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exit = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve(null);
    }, 15_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  t.equal(exit, 7, `mcpw run returned, with the program's exit code (${Date.now() - started} ms; stderr: ${stderr})`);
  t.ok(Date.now() - started < 10_000, "within seconds, not the grandchild's 60 s");
  const pid = grandchildOf(ws, t);
  t.ok(await gone(pid), `the grandchild ${pid} is gone (${JSON.stringify(stateOf(pid))})`);
  t.match(stderr, /grandchild keeps stderr/, "what it wrote still came through");
});

t.test("stopping a best-effort sandbox (as the server does) kills what it setsid'd away", { skip }, async (t) => {
  const saved = process.env.MCPW_BWRAP;
  process.env.MCPW_BWRAP = NO_BWRAP.MCPW_BWRAP;
  t.teardown(() => (saved === undefined ? delete process.env.MCPW_BWRAP : (process.env.MCPW_BWRAP = saved)));
  const ws = sandboxWorkspace();
  const prepared = prepareSandbox({
    id: "sb-tree",
    command: [PYTHON, "-c", daemonize("sys.stdin.read()")],
    workspace: ws,
    cwd: process.cwd(),
    hostEnv: process.env,
    stdio: ["pipe", "ignore", "pipe"],
    isolation: "best-effort",
  });
  const launched = await configureSandbox(prepared, {
    policy: Policy.parse({ isolation: "best-effort" }),
    hostEnv: process.env,
    channel: { callOp: (async () => ({})) as never, audit: () => undefined },
  });
  t.teardown(() => launched.dispose());
  for (let i = 0; i < 200 && !existsSync(join(ws, "grandchild.pid")); i++) await new Promise((r) => setTimeout(r, 25));
  const pid = grandchildOf(ws, t);
  t.ok(stateOf(pid) !== null, "the grandchild runs, in a session of its own");
  t.equal(stateOf(pid)?.ppid, prepared.child.pid, "re-parented to the reaper (the sandbox's first process), not to init");
  const stopped = await launched.process.stop(0);
  t.equal(stopped.signal, "SIGKILL", "the sandbox was killed");
  t.ok(await gone(pid), `and its grandchild ${pid} with it (${JSON.stringify(stateOf(pid))})`);
});

t.test("best-effort: the program's end passes through the reaper as it was (a signal stays a signal)", { skip }, async (t) => {
  const ws = sandboxWorkspace();
  const child = spawn(process.execPath, [MCPW, "run", "-q", "--isolation", "best-effort", "--mount", ws, "--", PYTHON, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"], {
    env: { ...process.env, ...NO_BWRAP },
    stdio: ["ignore", "ignore", "ignore"],
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  t.equal(code, 128 + 15, "mcpw exits 128 + SIGTERM, as the program did");
});
