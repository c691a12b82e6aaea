import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { makeBridge } from "./fixtures/bridge.js";
import { b64, rejects, tempDir, unb64 } from "./fixtures/harness.js";

/** Whether a process is still running (a zombie waiting for a reaper is not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !["Z", "X"].includes(stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3));
  } catch {
    return false;
  }
}

const allow = ["printf", "printenv", "pwd", "sleep", "yes", "cat", "false"];

function bridge(dir: string, exec: object = {}) {
  return makeBridge({ filesystem: { readwrite: [dir] }, exec: { allow, ...exec } });
}

t.test("arguments reach the program as they are: there is no shell", async (t) => {
  const dir = tempDir(t);
  const { perform } = bridge(dir);
  const evil = [`$(touch ${dir}/pwned)`, `; touch ${dir}/pwned2`, "`id`", "a|b", "&&", "*", "'quoted'", "$HOME", "line\nbreak"];
  const r = await perform({ op: "exec", command: "printf", args: ["%s\\n", ...evil] });
  t.equal(r.exitCode, 0);
  t.equal(unb64(r.stdout), evil.map((a) => `${a}\n`).join(""), "each argument printed literally");
  t.notOk(existsSync(join(dir, "pwned")) || existsSync(join(dir, "pwned2")), "nothing was run by a shell");
  t.match(r, { signal: null, truncated: false, timedOut: false });
});

t.test("only allowed programs run", async (t) => {
  const dir = tempDir(t);
  const { perform } = bridge(dir);
  await rejects(t, perform({ op: "exec", command: "id" }), { code: "policy_denied", rule: "exec.allow", message: /^command "id" is not in exec\.allow$/ }, "a name not in exec.allow");
  await rejects(t, perform({ op: "exec", command: "/usr/bin/id" }), { code: "policy_denied", rule: "exec.allow" }, "an absolute path not allowed");
  await rejects(t, perform({ op: "exec", command: "/nonexistent/printf" }), { code: "policy_denied", rule: "exec.allow" }, "a path that does not exist is refused the same way");
  await rejects(t, perform({ op: "exec", command: "../bin/printf" }), { code: "bad_params", field: "op.command" }, "a relative path");
  const abs = await perform({ op: "exec", command: "/usr/bin/printf", args: ["abs"] });
  t.equal(unb64(abs.stdout), "abs", "the absolute path of an allowed name is the same program");
  symlinkSync("/usr/bin/id", join(dir, "printf"));
  await rejects(t, perform({ op: "exec", command: join(dir, "printf") }), { code: "policy_denied", rule: "exec.allow" }, "a symlink named like an allowed program");
});

t.test("bare names are looked up only in exec.path", async (t) => {
  const dir = tempDir(t);
  const bin = join(dir, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "hello"), "#!/bin/sh\necho from exec.path\n");
  chmodSync(join(bin, "hello"), 0o755);
  writeFileSync(join(dir, "notexec"), "#!/bin/sh\necho no\n");
  const { perform } = makeBridge({ exec: { allow: ["hello", "printf", "/usr/bin/printenv"], path: [bin] } });
  t.equal(unb64((await perform({ op: "exec", command: "hello" })).stdout), "from exec.path\n");
  await rejects(t, perform({ op: "exec", command: "printf" }), { code: "io_error", errno: "ENOENT", message: /not in any exec\.path directory/ }, "an allowed name missing from exec.path is not searched for elsewhere");
  const env = await perform({ op: "exec", command: "/usr/bin/printenv", args: ["PATH"] });
  t.equal(unb64(env.stdout), `${bin}\n`, "PATH is exec.path");
});

t.test("environment: only PATH and the op's variables", async (t) => {
  const dir = tempDir(t);
  const { perform } = bridge(dir, { allowEnv: ["FOO"] });
  process.env.MCPW_TEST_HOST_SECRET = "leak";
  t.teardown(() => delete process.env.MCPW_TEST_HOST_SECRET);
  const r = await perform({ op: "exec", command: "printenv", args: ["--null"], env: { FOO: "bar" } });
  // tap's process-info hook patches child_process.spawn in the test process to add its own
  // variables to every child; those entries are the harness's, not the bridge's.
  const lines = unb64(r.stdout)
    .split("\0")
    .filter((l) => l && !l.startsWith("_TAPJS_PROCESSINFO_") && !/^NODE_OPTIONS=.*@tapjs\/processinfo/.test(l));
  t.same(lines, ["FOO=bar", "PATH=/usr/local/bin:/usr/bin:/bin"]);
  for (const name of ["LD_PRELOAD", "LD_LIBRARY_PATH", "NODE_OPTIONS", "BASH_ENV", "PATH"]) {
    await rejects(t, perform({ op: "exec", command: "printenv", env: { [name]: `${dir}/x` } }), { code: "policy_denied", message: new RegExp(`${name} may not be set`) }, name);
  }
});

t.test("stdin, exit codes, cwd", async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, "work"));
  symlinkSync("/etc", join(dir, "etc-link"));
  const { perform } = bridge(dir);
  t.equal(unb64((await perform({ op: "exec", command: "cat", stdin: b64("piped in") })).stdout), "piped in");
  t.match(await perform({ op: "exec", command: "false" }), { exitCode: 1, signal: null });
  t.equal(unb64((await perform({ op: "exec", command: "pwd", cwd: join(dir, "work") })).stdout), `${join(dir, "work")}\n`, "cwd inside a root");
  t.equal(unb64((await perform({ op: "exec", command: "pwd" })).stdout), "/\n", "default cwd is /");
  await rejects(t, perform({ op: "exec", command: "pwd", cwd: "/etc" }), { code: "policy_denied", rule: "filesystem.readonly" }, "cwd outside the roots");
  await rejects(t, perform({ op: "exec", command: "pwd", cwd: join(dir, "etc-link") }), { code: "policy_denied", rule: "filesystem.readonly" }, "cwd through a symlink out");
});

t.test("the time limit kills the whole process group", async (t) => {
  const dir = tempDir(t);
  const script = join(dir, "spawner");
  const pidFile = join(dir, "child.pid");
  writeFileSync(script, `#!/bin/sh\nsleep 30 &\necho $! > ${pidFile}\nwait\n`);
  chmodSync(script, 0o755);
  const { perform } = makeBridge({ exec: { allow: ["sleep", script], timeoutMs: 400 } });
  let started = Date.now();
  const r = await perform({ op: "exec", command: "sleep", args: ["10"] });
  t.match(r, { timedOut: true, signal: "SIGKILL", exitCode: null });
  t.ok(Date.now() - started < 5000, "killed at the policy's limit");
  started = Date.now();
  t.match(await perform({ op: "exec", command: "sleep", args: ["10"], timeoutMs: 100 }), { timedOut: true });
  t.ok(Date.now() - started < 400, "the op's shorter limit wins");
  t.match(await perform({ op: "exec", command: "sleep", args: ["0.1"], timeoutMs: 100_000 }), { timedOut: false, exitCode: 0 }, "the op cannot extend the policy's limit (it finishes anyway)");
  started = Date.now();
  const spawned = await perform({ op: "exec", command: script });
  t.match(spawned, { timedOut: true });
  // The child holds the output pipe: had it survived, the op would have waited for its 30 s sleep.
  t.ok(Date.now() - started < 5000, "the op ended at the limit, not when the program's child finished");
  const grandchild = Number(readFileSync(pidFile, "utf8"));
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(running(grandchild), "the program's own child was killed too");
});

t.test("a descendant that escaped the group does not keep the op open", async (t) => {
  const dir = tempDir(t);
  const script = join(dir, "daemonizer");
  const pidFile = join(dir, "daemon.pid");
  // The daemon writes its pid only once it is in its own session; the program waits for that.
  writeFileSync(script, `#!/bin/sh\nsetsid sh -c 'echo $$ > ${pidFile}; exec sleep 30' &\nwhile [ ! -s ${pidFile} ]; do sleep 0.01; done\necho started\n`);
  chmodSync(script, 0o755);
  t.teardown(() => {
    if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
  });
  const { perform } = makeBridge({ exec: { allow: [script], timeoutMs: 20_000 } });
  const started = Date.now();
  const r = await perform({ op: "exec", command: script });
  t.match(r, { exitCode: 0, timedOut: false });
  t.equal(unb64(r.stdout), "started\n", "output written before the exit is kept");
  t.ok(Date.now() - started < 5000, "the op ended when the program did");
});

t.test("output is capped, and a flood is stopped", async (t) => {
  const dir = tempDir(t);
  const { perform } = bridge(dir, { maxOutputBytes: 1000, timeoutMs: 10_000 });
  const started = Date.now();
  const flood = await perform({ op: "exec", command: "yes" });
  t.equal(Buffer.from(flood.stdout, "base64").length, 1000, "stdout kept up to the cap");
  t.match(flood, { truncated: true, timedOut: false, signal: "SIGKILL" }, "killed for flooding, not for time");
  t.ok(Date.now() - started < 5000);
  const over = await perform({ op: "exec", command: "printf", args: ["x".repeat(1500)] });
  t.match(over, { truncated: true, exitCode: 0, signal: null }, "a little over the cap: truncated, not killed");
  t.equal(Buffer.from(over.stdout, "base64").length, 1000);
});

t.test("environment is an allowlist: safe names, and what the policy lists; nothing that points a program at other code", async (t) => {
  const dir = tempDir(t);
  const { perform } = bridge(dir);
  // Each of these makes git (or another common program) run a command the sandbox chose.
  const attacks = ["GIT_EXTERNAL_DIFF", "GIT_PAGER", "PAGER", "EDITOR", "VISUAL", "GIT_ASKPASS", "SSH_ASKPASS", "GIT_PROXY_COMMAND", "GIT_SSH", "HOME", "XDG_CONFIG_HOME", "FOO"];
  for (const name of attacks) {
    await rejects(t, perform({ op: "exec", command: "printenv", env: { [name]: `${dir}/evil` } }), { code: "policy_denied", rule: "exec.allowEnv", message: new RegExp(`^environment variable ${name} may not be set for exec`) }, name);
  }
  const listed = bridge(dir, { allowEnv: ["MY_SETTING"] });
  const ok = await listed.perform({ op: "exec", command: "printenv", args: ["LANG", "TZ", "MY_SETTING"], env: { LANG: "C.UTF-8", TZ: "Europe/Berlin", MY_SETTING: "/any/value" } });
  t.equal(unb64(ok.stdout), "C.UTF-8\nEurope/Berlin\n/any/value\n", "the safe names and the policy's exec.allowEnv names are passed");
  for (const [name, value] of [["TZ", "/etc/localtime"], ["TZ", "../../../tmp/x"], ["LANG", "/tmp/locale"], ["TERM", "x".repeat(65)]] as const) {
    await rejects(t, perform({ op: "exec", command: "printenv", env: { [name]: value } }), { code: "policy_denied", rule: "exec.allowEnv", message: /may not name a file/ }, `${name}=${value.slice(0, 20)}`);
  }
  for (const name of ["LD_PRELOAD", "PATH", "NODE_OPTIONS"]) {
    t.throws(() => makeBridge({ exec: { allow: ["printenv"], allowEnv: [name] } }), { code: "bad_params", field: "exec.allowEnv.0", message: new RegExp(`${name} cannot be allowed`) }, `a policy cannot allow ${name}`);
  }
});

t.test("exec.allow entries may constrain arguments; a bare name gets any argv (git runs aliases)", async (t) => {
  const dir = tempDir(t);
  const outside = tempDir(t);
  execFileSync("git", ["init", "-q", dir]);
  const pwned = join(outside, "pwned");
  // The reviewer's attack: with "git" allowed, -c alias.x=!cmd runs any command, outside every root.
  const alias = ["-c", `alias.x=!id > ${pwned}`, "x"];
  const open = makeBridge({ filesystem: { readwrite: [dir] }, exec: { allow: ["git"] } });
  await open.perform({ op: "exec", command: "git", args: alias, cwd: dir });
  t.ok(existsSync(pwned), "a bare entry really means any arguments: this is why the README warns");
  rmSync(pwned);

  const policy = { filesystem: { readwrite: [dir] }, exec: { allow: [{ command: "git", args: ["status", "--(short|porcelain)"] }, { command: "printf", args: [] }] } };
  const { perform, ops } = makeBridge(policy);
  t.same(ops.capabilities.exec, ["git (args: status, --(short|porcelain))", "printf (args: none)"], "operators see the constraints");
  const st = await perform({ op: "exec", command: "git", args: ["status", "--short"], cwd: dir });
  t.equal(st.exitCode, 0, "allowed arguments run");
  await rejects(t, perform({ op: "exec", command: "git", args: alias, cwd: dir }), { code: "policy_denied", rule: "exec.allow", message: /^command "git": argument 1 \("-c"\) is not allowed by exec\.allow \(git \(args: status/ }, "the alias attack");
  t.notOk(existsSync(pwned), "nothing ran");
  await rejects(t, perform({ op: "exec", command: "/usr/bin/git", args: ["status", "--shortx"], cwd: dir }), { code: "policy_denied", rule: "exec.allow" }, "patterns match whole arguments, also through an absolute path");
  await rejects(t, perform({ op: "exec", command: "git", args: ["status\n--short"], cwd: dir }), { code: "policy_denied", rule: "exec.allow" }, "a newline does not sneak past an anchor");
  await rejects(t, perform({ op: "exec", command: "printf", args: ["x"] }), { code: "policy_denied", rule: "exec.allow" }, "args: [] means no arguments");
  t.equal((await perform({ op: "exec", command: "printf" })).exitCode, 1, "and none is fine (printf without a format fails by itself)");
  t.throws(() => makeBridge({ exec: { allow: [{ command: "git", args: ["(unclosed"] }] } }), { code: "bad_params", field: "exec.allow.0.args.0", message: /not a valid regular expression/ });
});
