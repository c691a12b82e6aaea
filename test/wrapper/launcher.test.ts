import { chownSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { McpwError } from "../../protocol/errors.js";
import { Policy } from "../../protocol/policy.js";
import { MCPW_ROOT } from "../../native/install-paths.js";
import { launchSandbox, type LaunchRequest } from "../../wrapper/launcher.js";
import { tempDir } from "../helpers/server.js";

const noBridge = { callOp: async () => Promise.reject(new McpwError("no_bridge", "no bridge in this test")), audit: () => undefined };

function request(id: string, command: string[], extra: Partial<LaunchRequest> = {}): LaunchRequest {
  return { id, command, policy: Policy.parse({}), workspace: tempDir("mcpw-ws-"), cwd: process.cwd(), hostEnv: process.env, stdio: ["pipe", "pipe", "pipe"], channel: noBridge, ...extra };
}

async function output(req: LaunchRequest): Promise<{ stdout: string; code: number | null }> {
  const run = await launchSandbox(req);
  let stdout = "";
  run.child.stdout!.on("data", (d) => (stdout += d));
  const closed = new Promise((r) => run.child.once("close", r));
  const exit = await run.process.exited;
  await closed;
  run.dispose();
  return { stdout, code: exit.code };
}

/** Host processes whose command line mentions `marker`. */
function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker)) found.push(Number(pid));
    } catch {
      // gone
    }
  }
  return found;
}

t.test("the sandbox sees a new root, the workspace as cwd, and no host environment", async (t) => {
  process.env.MCPW_TEST_SECRET = "do-not-leak";
  t.teardown(() => delete process.env.MCPW_TEST_SECRET);
  const probe = `
    const fs = require("fs");
    console.log(JSON.stringify({
      cwd: process.cwd(), root: fs.readdirSync("/").sort(), home: fs.existsSync("/home"), rootHome: fs.existsSync("/root"),
      env: process.env, hostname: require("os").hostname(),
      etcShadow: fs.existsSync("/etc/shadow"), passwd: fs.readFileSync("/etc/passwd", "utf8"),
      ifaces: Object.keys(require("os").networkInterfaces()),
    }));`;
  const { stdout, code } = await output(request("sb-view0001", ["node", "-e", probe], { policy: Policy.parse({ env: { set: { GREETING: "hi" } } }) }));
  t.equal(code, 0);
  const seen = JSON.parse(stdout);
  t.equal(seen.cwd, "/mount");
  t.notOk(seen.home, "/home is not there");
  t.notOk(seen.rootHome, "/root is not there");
  t.notOk(seen.etcShadow, "/etc/shadow is not there");
  t.notOk(seen.passwd.includes("root:"), "a passwd of the sandbox's own, not the host's");
  t.equal(seen.hostname, "mcpw-sb-view0001");
  t.same(seen.ifaces, ["lo"], "only loopback in the network namespace");
  t.same(Object.keys(seen.env).sort(), ["GREETING", "HOME", "LANG", "MCPW_CHANNEL_DIR", "MCPW_SANDBOX", "NODE_OPTIONS", "PATH", "PWD", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "TMPDIR"]);
  t.equal(seen.env.NODE_OPTIONS, "--require /opt/mcpw/dist/sandbox/node-preload.cjs", "only mcpw's own preload");
  t.notOk(JSON.stringify(seen.env).includes("do-not-leak"), "host variables stay outside");
  t.notOk(seen.env.NODE_OPTIONS.includes("tapjs"), "not even what a test harness injects into spawn()");
});

t.test("only the variables policy.env.pass names come from the host", async (t) => {
  process.env.MCPW_TEST_PASSED = "yes";
  t.teardown(() => delete process.env.MCPW_TEST_PASSED);
  const { stdout } = await output(request("sb-envp0001", ["node", "-e", "console.log(process.env.MCPW_TEST_PASSED)"], { policy: Policy.parse({ env: { pass: ["MCPW_TEST_PASSED"] } }) }));
  t.equal(stdout.trim(), "yes");
});

t.test("stopping a sandbox at any moment of its start-up leaves no process behind", async (t) => {
  const marker = "mcpw-stop-race-marker";
  for (let i = 0; i < 20; i++) {
    const run = await launchSandbox(request("sb-race0001", ["node", "-e", `setInterval(() => {}, 1000) // ${marker}`]));
    await new Promise((r) => setTimeout(r, i % 7));
    await run.process.stop(i % 2 ? 0 : 100);
    run.dispose();
  }
  await new Promise((r) => setTimeout(r, 300));
  t.same(processesWith(marker), [], "every sandboxed process is gone");
});

t.test("bad requests fail before anything starts", async (t) => {
  await t.rejects(launchSandbox(request("sb-bad00001", ["definitely-not-a-command"])), /command not found: definitely-not-a-command/);
  await t.rejects(launchSandbox(request("sb-bad00002", ["node", "missing-script.js"])), /script not found: .*missing-script\.js/);
  await t.rejects(launchSandbox(request("sb-bad00003", ["node", "-e", "1"], { workspace: "/nonexistent/dir" })), /workspace \/nonexistent\/dir does not exist/);
});

t.test("root is no exception: a sandbox started by root runs as an unprivileged host uid", { skip: process.getuid?.() !== 0 && "needs root" }, async (t) => {
  const probe = `
    const fs = require("fs"), out = {};
    out.status = fs.readFileSync("/proc/self/status", "utf8").match(/^Uid:\\s+(\\d+)/m)[1];
    for (const f of ["/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger", "/proc/sys/vm/drop_caches"]) {
      try { fs.writeFileSync(f, "0"); out[f] = "written"; } catch (e) { out[f] = e.code; }
    }
    out.sys = fs.existsSync("/sys/kernel");
    fs.writeFileSync("/mount/made-by-sandbox", "x");
    console.log(JSON.stringify(out));
    setTimeout(() => {}, 3000);`;
  const workspace = tempDir("mcpw-root-ws-");
  const run = await launchSandbox(request("sb-root0001", ["node", "-e", probe], { workspace }));
  let stdout = "";
  run.child.stdout!.on("data", (d) => (stdout += d));
  for (let i = 0; i < 100 && !stdout.includes("}"); i++) await new Promise((r) => setTimeout(r, 50));
  const out = JSON.parse(stdout);
  // From the host: the sandboxed process (a child of the namespace's init) and its uid.
  const init = await run.process.namespaceInit;
  const kids = readFileSync(`/proc/${init}/task/${init}/children`, "utf8").trim().split(/\s+/);
  const hostUid = readFileSync(`/proc/${kids[0]}/status`, "utf8").match(/^Uid:\s+(\d+)/m)![1];
  await run.process.stop(0);
  run.dispose();
  t.equal(hostUid, "65534", "on the host the sandboxed process is uid 65534, not 0");
  for (const f of ["/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger", "/proc/sys/vm/drop_caches"]) t.not(out[f], "written", `${f} cannot be written`);
  t.notOk(out.sys, "/sys is not there");
  t.equal(statSync(join(workspace, "made-by-sandbox")).uid, 65534, "and the workspace is still writable by it");
});

t.test("as root, the sandbox's gid is nogroup (65534), never the workspace's group", { skip: process.getuid?.() !== 0 && "needs root" }, async (t) => {
  // A workspace owned by an ordinary user, in a privileged group (42 is shadow on Debian; any gid
  // stands for one here), holding a file only that group may read.
  const PRIVILEGED_GID = 42;
  const workspace = tempDir("mcpw-gid-ws-");
  writeFileSync(join(workspace, "group-only"), "for the privileged group\n", { mode: 0o640 });
  chownSync(join(workspace, "group-only"), 0, PRIVILEGED_GID);
  chownSync(workspace, 1000, PRIVILEGED_GID);
  const probe = `
    const fs = require("fs"), out = { gid: process.getgid(), groups: process.getgroups(), uid: process.getuid() };
    try { out.read = fs.readFileSync("/mount/group-only", "utf8").trim(); } catch (e) { out.read = e.code; }
    console.log(JSON.stringify(out));`;
  const { stdout, code } = await output(request("sb-gid00001", ["node", "-e", probe], { workspace }));
  t.equal(code, 0);
  const out = JSON.parse(stdout);
  t.equal(out.uid, 1000, "the workspace's owner");
  t.equal(out.gid, 65534, "gid nogroup, not the workspace's group");
  t.notOk(out.groups.includes(PRIVILEGED_GID), `no supplementary privileged group (${out.groups})`);
  t.equal(out.read, "EACCES", "a file only the workspace's group may read stays unreadable");
});

t.test("a sandbox dies with the process that started it, even when that process is killed outright", async (t) => {
  const marker = "mcpw-orphan-marker";
  const script = `
    import { launchSandbox } from ${JSON.stringify(join(process.cwd(), "dist/wrapper/launcher.js"))};
    import { Policy } from ${JSON.stringify(join(process.cwd(), "dist/protocol/policy.js"))};
    // The marker is joined here, so only the sandboxed program's command line holds it, not this one's.
    const run = await launchSandbox({ id: "sb-orphan01", command: ["node", "-e", "setInterval(() => {}, 1000) // " + ${JSON.stringify(marker.slice(0, 6))} + ${JSON.stringify(marker.slice(6))}], policy: Policy.parse({}),
      workspace: ${JSON.stringify(tempDir("mcpw-orphan-ws-"))}, cwd: process.cwd(), hostEnv: process.env, stdio: "ignore",
      channel: { callOp: async () => { throw new Error("none"); }, audit: () => {} } });
    await run.process.namespaceInit;
    console.log("started");
    setInterval(() => {}, 1000);`;
  const { spawn } = await import("node:child_process");
  const parent = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve) => parent.stdout.on("data", (d) => String(d).includes("started") && resolve()));
  for (let i = 0; i < 100 && processesWith(marker).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.ok(processesWith(marker).length > 0, "the sandboxed program is running");
  parent.kill("SIGKILL");
  for (let i = 0; i < 100 && processesWith(marker).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  const left = processesWith(marker);
  const describe = (pid: number) => {
    try {
      const st = readFileSync(`/proc/${pid}/status`, "utf8");
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(st)![1]);
      return `${pid} (${/^NSpid:\s+(.*)$/m.exec(st)![1]}) parent ${ppid}: ${readFileSync(`/proc/${ppid}/cmdline`, "utf8").replace(/\0/g, " ").slice(0, 80)}`;
    } catch {
      return `${pid} (gone)`;
    }
  };
  t.same(left, [], "after SIGKILL of its parent, nothing of the sandbox is left", { survivors: left.map(describe) });
});

t.test("one of mcpw's own scripts runs from /opt/mcpw/dist, with nothing of its checkout bound", async (t) => {
  const script = { script: "test/wrapper/fixtures/own-script-probe.js", nodeOptions: ["--disallow-code-generation-from-strings"], args: [MCPW_ROOT] };
  const { stdout, code } = await output(request("sb-own00001", [], { command: script }));
  t.equal(code, 0);
  t.same(JSON.parse(stdout), { script: "/opt/mcpw/dist/test/wrapper/fixtures/own-script-probe.js", args: [MCPW_ROOT], lib: ["dist", "node_modules"], hostCheckout: false, evalRefused: true });
});
