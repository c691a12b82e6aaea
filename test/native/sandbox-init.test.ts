/**
 * sandbox-init as the launcher will use it: how it receives the spec, what each failing step says,
 * and what the target inherits (exactly its env, its stdio, no ignored signals, the same pid).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, closeSync, openSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { landlockAbi } from "../../native/landlock.js";
import { EXIT_CANNOT_EXECUTE, EXIT_INIT_FAILED, EXIT_NOT_FOUND, resolveExecutable } from "../../native/sandbox-init.js";
import { parseInitSpec, SandboxInitSpec } from "../../native/sandbox-init-spec.js";
import { BWRAP, IS_ROOT, NOBODY, NODE, PYTHON, run, runInit, SANDBOX_INIT, scratchDir, TARGET_ENV } from "./fixtures/helpers.js";

const dir = scratchDir("init");
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test("a bad spec is refused at the 'spec' step, naming the field", (t) => {
  const withEnv = (env: NodeJS.ProcessEnv) => run([NODE, SANDBOX_INIT, "--", "/bin/true"], env);
  const none = withEnv({});
  t.equal(none.status, EXIT_INIT_FAILED);
  t.match(none.stderr, /^mcpw sandbox-init: spec: no spec: set MCPW_INIT_SPEC/m);
  t.match(withEnv({ MCPW_INIT_SPEC: "{nope" }).stderr, /spec: invalid spec: not valid JSON/);
  t.match(withEnv({ MCPW_INIT_SPEC: JSON.stringify({ v: 1, rlimits: { memMb: -1 } }) }).stderr, /spec: invalid spec: rlimits\.memMb: /);
  t.match(withEnv({ MCPW_INIT_SPEC: JSON.stringify({ v: 1, landlock: { readOnly: ["relative"] } }) }).stderr, /landlock\.readOnly\.0: path must be absolute/);
  t.match(withEnv({ MCPW_INIT_SPEC: JSON.stringify({ v: 1, seccom: false }) }).stderr, /spec: invalid spec: .*seccom/, "unknown keys are refused (a typo must not turn a layer off)");
  t.match(withEnv({ MCPW_INIT_SPEC: JSON.stringify({ v: 2 }) }).stderr, /spec: invalid spec: v: /);
  t.end();
});

t.test("parseInitSpec fills the safe defaults", (t) => {
  const parsed = parseInitSpec(JSON.stringify({ v: 1 }));
  t.ok("spec" in parsed);
  if ("spec" in parsed) {
    t.same(parsed.spec, SandboxInitSpec.parse({ v: 1 }));
    t.equal(parsed.spec.seccomp, true, "seccomp on");
    t.equal(parsed.spec.isolation, "strict", "strict isolation");
    t.same(parsed.spec.env, {}, "empty environment");
    t.equal(parsed.spec.rlimits.memoryKind, "data");
  }
  t.end();
});

t.test("target problems: not found (127), not executable under landlock (126), argv given twice (125)", (t) => {
  const missing = runInit({}, ["no-such-program-mcpw"]);
  t.equal(missing.status, EXIT_NOT_FOUND);
  t.match(missing.stderr, /mcpw sandbox-init: target: no-such-program-mcpw: not found or not executable \(PATH=/);
  const twice = runInit({ argv: ["/bin/true"] }, ["/bin/true"]);
  t.equal(twice.status, EXIT_INIT_FAILED);
  t.match(twice.stderr, /target: target argv given both after -- and in the spec/);
  t.equal(run([NODE, SANDBOX_INIT], { MCPW_INIT_SPEC: JSON.stringify({ v: 1 }) }).status, EXIT_INIT_FAILED, "no target at all");
  if (landlockAbi().abi >= 1) {
    const denied = runInit({ landlock: { readExec: ["/usr/lib"] } }, ["/usr/bin/true"]);
    t.equal(denied.status, EXIT_CANNOT_EXECUTE);
    t.match(denied.stderr, /execve: \/usr\/bin\/true: EACCES \(with landlock, the file must be inside a readExec tree\)/);
  }
  t.end();
});

t.test("the target gets exactly spec.env, the spec variable is gone, and it runs in spec.cwd", (t) => {
  const script = "import json, os; print(json.dumps([dict(os.environ), os.getcwd()]))";
  const r = runInit({ env: { ...TARGET_ENV, ONLY: "this" }, cwd: dir }, [PYTHON, "-c", script]);
  t.equal(r.status, 0, r.stderr);
  t.same(JSON.parse(r.stdout), [{ ...TARGET_ENV, ONLY: "this" }, dir]);
  t.end();
});

t.test("argv[0] is found in spec.env.PATH; argv can come from the spec", (t) => {
  t.equal(resolveExecutable("sh", "/nonexistent:/bin", "/"), "/bin/sh");
  t.equal(resolveExecutable("sh", "/nonexistent", "/"), null);
  t.equal(resolveExecutable("./true", undefined, "/usr/bin"), "/usr/bin/true");
  t.equal(resolveExecutable("/etc/passwd", undefined, "/"), null, "not executable");
  const r = runInit({ argv: ["echo", "from", "spec"] }, []);
  t.equal(r.stdout, "from spec\n");
  t.end();
});

t.test("the target replaces sandbox-init: same pid, stdio open, no ignored or blocked signals", (t) => {
  // grep reads its own status (python would not do: it ignores SIGPIPE and SIGXFSZ itself, as
  // Node does; nor would sh reading its pid's status from a child: dash blocks every signal while it
  // forks, so its child may see that).
  const spec = JSON.stringify(SandboxInitSpec.parse({ v: 1, env: TARGET_ENV }));
  const r = spawnSync(NODE, [SANDBOX_INIT, "--", "grep", "-E", "^(Pid|SigBlk|SigIgn):", "/proc/self/status"], { env: { MCPW_INIT_SPEC: spec }, encoding: "utf8" });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, `Pid:\t${r.pid}\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n`, "Node ignores SIGPIPE and SIGXFSZ; the target does not");
  t.end();
});

t.test("spec from an fd, a report on reportFd, and keepFds", (t) => {
  const specFile = join(dir, "spec.json");
  const spec = { v: 1, env: TARGET_ENV, reportFd: 4, keepFds: [5], rlimits: { memMb: 512 }, landlock: { readExec: ["/usr", "/bin", "/lib", "/lib64"], readWrite: ["/dev", "/nonexistent-mcpw"] } };
  writeFileSync(specFile, JSON.stringify(spec));
  const specFd = openSync(specFile, "r");
  const keptFile = join(dir, "kept");
  const kept = openSync(keptFile, "w");
  const r = spawnSync(NODE, [SANDBOX_INIT, "--", "/bin/sh", "-c", "echo kept >&5; echo out; (: <&3) 2>/dev/null || echo spec-fd-closed"], {
    env: { MCPW_INIT_SPEC_FD: "3" },
    stdio: ["pipe", "pipe", "pipe", specFd, "pipe", kept],
    encoding: "utf8",
  });
  closeSync(specFd);
  closeSync(kept);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, "out\nspec-fd-closed\n", "the spec fd is closed before the target runs");
  t.equal(spawnSync("cat", [keptFile], { encoding: "utf8" }).stdout, "kept\n", "fd 5 stayed open across execve");
  const report = JSON.parse(String(r.output[4])) as { target: string; seccomp: boolean; rlimits: { name: string }[]; landlock: { enforced: boolean; notes: string[] } };
  t.equal(report.target, "/bin/sh");
  t.equal(report.seccomp, true);
  t.same(report.rlimits.map((l) => l.name), ["CORE", "DATA"]);
  if (landlockAbi().abi >= 1) {
    t.equal(report.landlock.enforced, true);
    t.match(report.landlock.notes.join("\n"), /skipped \/nonexistent-mcpw: ENOENT/, "a missing path is skipped with a note");
  }
  t.end();
});

t.test("verbose prints one line per applied layer; notes are printed even when quiet", (t) => {
  const quiet = runInit({ seccomp: false }, ["/bin/true"]);
  t.match(quiet.stderr, /note: seccomp disabled by the spec/);
  t.notMatch(quiet.stderr, /rlimits:/);
  const verbose = runInit({ verbose: true }, ["/bin/true"]);
  t.match(verbose.stderr, /rlimits: CORE=0\/0/);
  t.match(verbose.stderr, /seccomp: filter installed on all threads \(TSYNC\)/);
  t.end();
});

const FULL_STACK_TARGET = `
const fs = require("fs"), cp = require("child_process");
const attempt = (f) => { try { return f() ?? "ok"; } catch (e) { return e.code || e.message; } };
console.log(JSON.stringify({
  write: attempt(() => fs.writeFileSync("/mnt/f", "x")),
  read: attempt(() => fs.readFileSync("/mnt/f", "utf8")),
  readRootHome: attempt(() => fs.readdirSync("/root")),
  writeTmp: attempt(() => fs.writeFileSync("/tmp/t", "x")),
  child: attempt(() => cp.execFileSync("node", ["-e", "process.stdout.write(String(process.getuid()))"]).toString()),
  unshare: attempt(() => cp.execFileSync("unshare", ["-U", "true"], { stdio: "pipe" }) && "ran"),
  status: fs.readFileSync("/proc/self/status", "utf8").split("\\n").filter((l) => /^(Seccomp|Seccomp_filters|NoNewPrivs):/.test(l)).map((l) => l.replace(/\\s+/g, " ")),
}));`;

t.test("all layers together, inside bwrap, as an unprivileged host uid", { skip: BWRAP ? false : "bwrap not installed" }, (t) => {
  const workspace = scratchDir("workspace");
  chmodSync(workspace, 0o777);
  t.teardown(() => rmSync(workspace, { recursive: true, force: true }));
  const spec = {
    env: { ...TARGET_ENV, HOME: "/mnt" },
    cwd: "/mnt",
    rlimits: { memMb: 512, maxProcs: 64, maxFileMb: 16, openFiles: 256, cpuSeconds: 30 },
    landlock: { mode: "strict" as const, readExec: ["/usr", "/bin", "/lib", "/lib64"], readOnly: ["/etc", "/proc"], readWrite: ["/mnt", "/tmp", "/dev"] },
  };
  const r = runInit(spec, [NODE, "-e", FULL_STACK_TARGET], { bwrap: true, bwrapArgs: ["--bind", workspace, "/mnt"], ...(IS_ROOT ? { uid: NOBODY } : {}) });
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  t.same(out, {
    write: "ok",
    read: "x",
    readRootHome: "EACCES",
    writeTmp: "ok",
    child: String(IS_ROOT ? NOBODY : process.getuid?.()),
    unshare: "Command failed: unshare -U true\nunshare: unshare failed: Operation not permitted\n",
    status: ["NoNewPrivs: 1", "Seccomp: 2", "Seccomp_filters: 1"],
  });
  t.end();
});
