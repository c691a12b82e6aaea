/**
 * Landlock through sandbox-init: python tries reads, writes, execs, a unix socket and signals in
 * and outside the allowed trees, once with landlock and once without (every operation must work
 * without it, so each refusal is landlock's).
 */
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import t from "tap";
import { landlockAbi } from "../../native/landlock.js";
import type { SandboxInitSpecInput } from "../../native/sandbox-init-spec.js";
import { BWRAP, PYTHON, ROOT, runInit, scratchDir } from "./fixtures/helpers.js";

const ACCESS_PROBES = join(ROOT, "test/native/fixtures/access-probes.py");
const abi = landlockAbi().abi;
const NEED_LANDLOCK = abi >= 1 ? false : "landlock unavailable here";

const dir = scratchDir("landlock");
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Rebuilds the scratch tree, so every run starts from the same files. */
function freshTree(): void {
  rmSync(dir, { recursive: true, force: true });
  for (const sub of ["rw/sub", "ro", "secret", "bin"]) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, "ro/file"), "read me");
  writeFileSync(join(dir, "secret/file"), "do not read me");
  writeFileSync(join(dir, "rw/moveme"), "m");
  copyFileSync("/usr/bin/true", join(dir, "bin/true"));
  copyFileSync("/usr/bin/true", join(dir, "rw/true"));
}
freshTree();

const policy = { readExec: ["/usr", join(dir, "bin")], readOnly: [join(dir, "ro"), ACCESS_PROBES], readWrite: [join(dir, "rw")] };

function probe(landlock: SandboxInitSpecInput["landlock"], ops: string[], bwrap = false): Record<string, string> {
  freshTree();
  const r = runInit({ landlock, isolation: "strict" }, [PYTHON, ACCESS_PROBES, ...ops], {
    bwrap,
    bwrapArgs: ["--bind", dir, dir, "--ro-bind", ROOT, ROOT],
  });
  if (r.status !== 0) throw new Error(`access probes exited ${r.status ?? r.signal}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, string>;
}

const d = (p: string) => join(dir, p);
/** Operation → errno under landlock (every one of them is "ok" without landlock). */
const EXPECT: Record<string, string> = {
  [`read:${d("ro/file")}`]: "ok",
  [`listdir:${d("ro")}`]: "ok",
  [`read:${d("secret/file")}`]: "EACCES",
  [`listdir:${d("secret")}`]: "EACCES",
  ["read:/etc/passwd"]: "EACCES",
  [`write:${d("rw/new")}`]: "ok",
  [`mkdir:${d("rw/newdir")}`]: "ok",
  [`rename:${d("rw/moveme")}:${d("rw/sub/moved")}`]: "ok",
  [`write:${d("ro/new")}`]: "EACCES",
  [`write:${d("secret/new")}`]: "EACCES",
  [`mkdir:${d("ro/newdir")}`]: "EACCES",
  [`truncate:${d("ro/file")}`]: abi >= 3 ? "EACCES" : "ok",
  [`exec:${d("bin/true")}`]: "ok",
  [`exec:${d("rw/true")}`]: "EACCES",
};

for (const where of ["host", "bwrap"] as const) {
  t.test(`reads, writes and execs outside the allowed trees are refused (${where})`, { skip: NEED_LANDLOCK || (where === "bwrap" && !BWRAP ? "bwrap not installed" : false) }, (t) => {
    const ops = Object.keys(EXPECT);
    const off = probe(null, ops, where === "bwrap");
    const on = probe(policy, ops, where === "bwrap");
    for (const [op, want] of Object.entries(EXPECT)) {
      t.equal(off[op], "ok", `without landlock: ${op}`);
      t.equal(on[op], want, `with landlock: ${op} → ${want}`);
    }
    t.end();
  });
}

t.test("connect() to a unix socket at a path is NOT mediated by landlock (the mount namespace must hide host sockets)", { skip: NEED_LANDLOCK }, async (t) => {
  const sockDir = scratchDir("landlock-sock"); // outside every rule, and not rebuilt by probe()
  t.teardown(() => rmSync(sockDir, { recursive: true, force: true }));
  const sock = join(sockDir, "host.sock");
  const server: Server = createServer((c) => c.end());
  await new Promise<void>((ok) => server.listen(sock, ok));
  t.teardown(() => server.close());
  const on = probe(policy, [`connect:${sock}`, `read:${sock}`]);
  t.equal(on[`read:${sock}`], "EACCES", "opening it as a file is refused");
  t.comment(`connect under landlock ABI ${abi}: ${on[`connect:${sock}`]}`);
  if (abi <= 7) t.equal(on[`connect:${sock}`], "ok", "up to ABI 7 connect is allowed: bubblewrap must not mount host sockets");
});

const ABSTRACT_LISTENER = `
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind("\\0" + sys.argv[1]); s.listen(8)
print("ready", flush=True); time.sleep(30)`;

t.test("scopes: no abstract unix sockets or signals across the sandbox boundary (ABI >= 6)", { skip: abi >= 6 ? false : `landlock ABI ${abi} < 6` }, async (t) => {
  const name = `mcpw-test-${process.pid}`;
  // A host program listening on an abstract socket (python: Node cannot bind abstract names).
  const listener = spawn(PYTHON, ["-c", ABSTRACT_LISTENER, name], { stdio: ["ignore", "pipe", "inherit"] });
  t.teardown(() => void listener.kill("SIGKILL"));
  await once(listener.stdout, "data");
  const ops = [`abstract:${name}`, `kill:${process.pid}`];
  // connect() completes from the listen backlog, so the blocked event loop does not matter.
  const off = probe(null, ops);
  const on = probe(policy, ops);
  const unscoped = probe({ ...policy, scopeAbstractUnix: false, scopeSignals: false }, ops);
  t.same(off, { [ops[0]!]: "ok", [ops[1]!]: "ok" }, "without landlock both reach the host");
  t.same(on, { [ops[0]!]: "EPERM", [ops[1]!]: "EPERM" }, "with the scopes both are refused");
  t.same(unscoped, off, "with the scopes turned off both work again");
});
