import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { policyFile, probe, type Attempt } from "../helpers/python.js";
import { tempDir } from "../helpers/server.js";

/** Starting programs from Python in a real sandbox: only what exec.allow / exec.viaBridge list. */

const NOT_LISTED = (name: string) => `(mcpw: "${name}" is not in policy exec.allow or exec.viaBridge)`;

const TRY_ALL_WAYS = `
import asyncio, subprocess
async def via_asyncio():
    p = await asyncio.create_subprocess_exec("touch", "/mount/ran-asyncio")
    return await p.wait()
report(
    run=attempt(lambda: subprocess.run(["touch", "/mount/ran-run"]).returncode),
    check_output_shell=attempt(lambda: subprocess.check_output("touch /mount/ran-shell", shell=True)),
    system=attempt(lambda: os.system("touch /mount/ran-system")),
    popen=attempt(lambda: os.popen("touch /mount/ran-popen").close()),
    spawnvp=attempt(lambda: os.spawnvp(os.P_WAIT, "touch", ["touch", "/mount/ran-spawn"])),
    posix_spawnp=attempt(lambda: os.waitpid(os.posix_spawnp("touch", ["touch", "/mount/ran-posix-spawn"], os.environ), 0)[1]),
    asyncio_=attempt(lambda: asyncio.run(via_asyncio())),
    execvp=attempt(lambda: os.execvp("touch", ["touch", "/mount/ran-exec"])),
)`;

t.test("a program outside the policy is refused, however it is started, and does not run", async (t) => {
  const { out, run } = await probe(TRY_ALL_WAYS);
  t.equal(run.code, 0, run.stderr);
  for (const [name, program] of [
    ["run", "touch"],
    ["check_output_shell", "sh"],
    ["system", "sh"],
    ["popen", "sh"],
    ["spawnvp", "touch"],
    ["posix_spawnp", "touch"],
    ["asyncio_", "touch"],
    ["execvp", "touch"],
  ] as const) {
    const a = out[name] as Attempt;
    t.equal(a.error, "PermissionError", `${name}: PermissionError`);
    t.ok(a.message?.includes(NOT_LISTED(program)), `${name}: names ${program} and the rule`, { message: a.message });
  }
  t.same(
    ["run", "shell", "system", "popen", "spawn", "posix-spawn", "asyncio", "exec"].filter((w) => existsSync(join(run.workspace, `ran-${w}`))),
    [],
    "nothing ran",
  );

  // The same calls with touch and sh allowed: the refusals above were the policy.
  const allowed = await probe(TRY_ALL_WAYS.replace(/\s+execvp=.*\n/, "\n"), ["--policy", policyFile({ exec: { allow: ["touch", "sh"] } })]);
  t.equal(allowed.run.code, 0, allowed.run.stderr);
  t.same(
    ["run", "shell", "system", "popen", "spawn", "posix-spawn", "asyncio"].filter((w) => !existsSync(join(allowed.run.workspace, `ran-${w}`))),
    [],
    "each one ran when allowed",
  );
});

t.test("an allowed program runs inside the sandbox, and a Python child stays intercepted", async (t) => {
  const hostRoot = tempDir("mcpw-py-proc-", "/var/tmp");
  t.teardown(() => rmSync(hostRoot, { recursive: true, force: true }));
  const privateFile = join(hostRoot, "private.txt");
  writeFileSync(privateFile, "HOST-ONLY\n");
  const child = `import os\\ntry:\\n    open('${privateFile}')\\nexcept OSError as e:\\n    print(e)\\nprint(os.environ.get('PYTHONPATH'))`;
  const { out, run } = await probe(
    `
import subprocess
def py(env):
    r = subprocess.run(["python3", "-c", "${child}"], env=env, capture_output=True, text=True)
    return r.stdout.splitlines()
report(
    ls=subprocess.run(["ls", "/"], capture_output=True, text=True).stdout.split(),
    ls_host=subprocess.run(["ls", ${JSON.stringify(hostRoot)}], capture_output=True, text=True).returncode,
    inherited=py(None),
    empty_env=py({}),
    own_path=py({"PYTHONPATH": "/mount/lib"}),
)`,
    ["--policy", policyFile({ exec: { allow: ["ls", "python3"] } })],
  );
  t.equal(run.code, 0, run.stderr);
  t.ok(out.ls.includes("mount") && !out.ls.includes("home") && !out.ls.includes("var"), "ls sees the sandbox's root", { ls: out.ls });
  t.not(out.ls_host, 0, "and not the host's files");
  const refused = `[Errno 13] Permission denied (mcpw: outside /mount and not in policy filesystem.readonly or filesystem.writable): '${privateFile}'`;
  t.same(out.inherited, [refused, "/opt/mcpw/dist/sandbox/python"], "the child has the interceptors");
  t.same(out.empty_env, [refused, "/opt/mcpw/dist/sandbox/python"], "even when the caller passes an empty env");
  t.same(out.own_path, [refused, "/opt/mcpw/dist/sandbox/python:/mount/lib"], "a caller's PYTHONPATH is kept, after mcpw's");
});

t.test("a viaBridge program runs on the host and relays output, stdin and exit status", async (t) => {
  const hostRoot = tempDir("mcpw-py-bridge-", "/var/tmp");
  t.teardown(() => rmSync(hostRoot, { recursive: true, force: true }));
  const hostOnly = join(hostRoot, "host-only.txt");
  writeFileSync(hostOnly, "seen only on the host\n");
  const { out, run } = await probe(
    `
import subprocess
r = subprocess.run(["cat", ${JSON.stringify(hostOnly)}], capture_output=True, text=True)
missing = subprocess.run(["cat", ${JSON.stringify(join(hostRoot, "missing"))}], capture_output=True, text=True)
shell = subprocess.run("echo $((6 * 7)); echo oops >&2; exit 3", shell=True, capture_output=True, text=True)
report(
    direct=attempt(lambda: open(${JSON.stringify(hostOnly)}).read()),
    cat=[r.returncode, r.stdout],
    missing=[missing.returncode, missing.stderr.strip()],
    stdin=subprocess.run(["cat"], input="piped in\\n", capture_output=True, text=True).stdout,
    shell=[shell.returncode, shell.stdout, shell.stderr],
    system=os.system("exit 5"),
    check_output=subprocess.check_output(["cat", ${JSON.stringify(hostOnly)}]).decode(),
    ls=attempt(lambda: subprocess.run(["ls"])),
)`,
    ["--policy", policyFile({ exec: { viaBridge: ["cat", "sh"] } })],
  );
  t.equal(run.code, 0, run.stderr);
  t.equal(out.direct.error, "PermissionError", "the sandbox itself cannot read the file ...");
  t.same(out.cat, [0, "seen only on the host\n"], "... but cat, run by the bridge on the host, can");
  t.equal(out.missing[0], 1, "the host program's exit code comes back");
  t.match(out.missing[1], /No such file or directory/, "and its stderr");
  t.equal(out.stdin, "piped in\n", "input= reaches the host program");
  t.same(out.shell, [3, "42\n", "oops\n"], "shell=True runs sh on the host");
  t.equal(out.system, 5 << 8, "os.system returns a wait status");
  t.equal(out.check_output, "seen only on the host\n");
  t.ok((out.ls as Attempt).message?.includes(NOT_LISTED("ls")), "an unlisted program is still refused");
});

t.test("exec.allow python3 covers the interpreter python3 resolved to: a program may run sys.executable", async (t) => {
  const { out, run } = await probe(
    `
import subprocess, sys
report(
    real=os.path.basename(os.path.realpath(sys.executable)),
    self_=attempt(lambda: subprocess.run([sys.executable, "-c", "print('child ran')"], capture_output=True, text=True).stdout.strip()),
    other=attempt(lambda: subprocess.run(["touch", "/mount/x"]).returncode),
)`,
    ["--policy", policyFile({ exec: { allow: ["python3"] } })],
  );
  t.equal(run.code, 0, run.stderr);
  t.same(out.self_, { ok: "child ran" }, `sys.executable (${out.real}) runs: ${JSON.stringify(out.self_)}`);
  t.equal((out.other as Attempt).error, "PermissionError", "and nothing else was let in with it");
});
