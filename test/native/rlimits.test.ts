/**
 * Resource limits through sandbox-init: each bomb is first shown to get further without the limit
 * (a bounded version of it succeeds), then to be stopped by the limit.
 */
import { mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { planRlimits } from "../../native/rlimits.js";
import { BWRAP, IS_ROOT, NOBODY, NODE, PYTHON, runInit, scratchDir } from "./fixtures/helpers.js";

const dir = scratchDir("rlimits");
mkdirSync(dir, { recursive: true });
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test("planRlimits: RLIMIT_DATA by default, CORE always 0, CPU hard one second after soft", (t) => {
  t.same(planRlimits({ memMb: 256, maxProcs: 64, maxFileMb: 10, openFiles: 256, cpuSeconds: 5 }), [
    { name: "CORE", soft: 0n, hard: 0n },
    { name: "DATA", soft: 256n << 20n, hard: 256n << 20n },
    { name: "NPROC", soft: 64n, hard: 64n },
    { name: "FSIZE", soft: 10n << 20n, hard: 10n << 20n },
    { name: "NOFILE", soft: 256n, hard: 256n },
    { name: "CPU", soft: 5n, hard: 6n },
  ]);
  t.same(planRlimits({ memMb: 64, memoryKind: "as" })[1], { name: "AS", soft: 64n << 20n, hard: 64n << 20n });
  t.end();
});

const NODE_ALLOC_300MB = "Buffer.alloc(300 * 2 ** 20, 1); console.log('allocated')";
const NODE_BOMB = "const a = []; for (;;) a.push(Buffer.alloc(2 ** 20, 1))";
const NODE_HEAP_BOMB = "const a = []; for (;;) a.push(new Array(1e5).fill(1.5))";
const PY_ALLOC_300MB = "b = bytearray(300 << 20); print('allocated')";
const PY_BOMB = "a = []\nwhile True: a.append(bytearray(1 << 20))";

t.test("memory: node and python start normally under RLIMIT_DATA and cannot get past memMb=256", (t) => {
  const mem = (memMb?: number) => ({ rlimits: memMb ? { memMb } : {}, seccomp: true });
  for (const [what, memMb, argv] of [
    ["node", 128, [NODE, "-e", "console.log('started')"]],
    ["python", 128, [PYTHON, "-c", "import json, ssl; print('started')"]],
    ["node worker + wasm", 128, [NODE, "-e", "new WebAssembly.Memory({ initial: 10 }); new (require('worker_threads').Worker)('1', { eval: true }).on('exit', () => console.log('started'))"]],
  ] as const) {
    const r = runInit(mem(memMb), [...argv]);
    t.equal(r.stdout.trim(), "started", `${what} starts with memMb=${memMb}: ${r.stderr.slice(-200)}`);
  }
  for (const [what, argv] of [
    ["node", [NODE, "-e", NODE_ALLOC_300MB]],
    ["python", [PYTHON, "-c", PY_ALLOC_300MB]],
  ] as const) {
    t.equal(runInit(mem(), [...argv]).stdout.trim(), "allocated", `${what} allocates 300 MiB without a limit`);
    const limited = runInit(mem(256), [...argv]);
    t.not(limited.status, 0, `${what} cannot allocate 300 MiB with memMb=256`);
    t.notMatch(limited.stdout, /allocated/);
  }
  for (const [what, argv, says] of [
    ["node Buffer bomb", [NODE, "-e", NODE_BOMB], /out of memory|allocation failed/i],
    ["node V8 heap bomb", [NODE, "-e", NODE_HEAP_BOMB], /out of memory|allocation failed/i],
    ["python bomb", [PYTHON, "-c", PY_BOMB], /MemoryError/],
  ] as const) {
    const r = runInit(mem(256), [...argv], { timeoutMs: 15_000 });
    t.ok(r.status !== 0 && r.signal !== "SIGKILL", `${what} ends by itself (status ${r.status}, signal ${r.signal}, ${r.ms} ms)`);
    t.match(r.stderr, says, `${what} says why`);
  }
  t.end();
});

t.test("memory: RLIMIT_AS (memoryKind 'as') breaks node, which is why DATA is the default", (t) => {
  const r = runInit({ rlimits: { memMb: 512, memoryKind: "as" } }, [NODE, "-e", "console.log('started')"], { timeoutMs: 10_000 });
  t.not(r.stdout.trim(), "started", "node does not start under RLIMIT_AS=512 MiB");
  t.match(r.stderr, /reserve virtual memory|out of memory/i);
  const py = runInit({ rlimits: { memMb: 512, memoryKind: "as" } }, [PYTHON, "-c", "print('started')"]);
  t.equal(py.stdout.trim(), "started", "python is fine with it");
  t.end();
});

t.test("file size: writes past maxFileMb get EFBIG (node, python) or SIGXFSZ (programs that do not ignore it)", (t) => {
  const file = join(dir, "big");
  const nodeWrite = `try { require('fs').writeFileSync(${JSON.stringify(file)}, Buffer.alloc(3 * 2 ** 20)); console.log('wrote') } catch (e) { console.log(e.code) }`;
  const pyWrite = `
try:
    open(${JSON.stringify(file)}, "wb").write(bytes(3 << 20)); print("wrote")
except OSError as e:
    import errno; print(errno.errorcode[e.errno])`;
  const shWrite = ["/bin/sh", "-c", `head -c 3145728 /dev/zero > ${file} && echo wrote`];
  for (const [what, argv] of [
    ["node", [NODE, "-e", nodeWrite]],
    ["python", [PYTHON, "-c", pyWrite]],
  ] as const) {
    t.equal(runInit({}, [...argv]).stdout.trim(), "wrote", `${what} writes 3 MiB without a limit`);
    t.equal(runInit({ rlimits: { maxFileMb: 1 } }, [...argv]).stdout.trim(), "EFBIG", `${what} gets EFBIG with maxFileMb=1`);
    t.equal(statSync(file).size, 1 << 20, "the file stops at the limit");
  }
  t.equal(runInit({}, shWrite).stdout.trim(), "wrote", "sh + head write 3 MiB without a limit");
  const sh = runInit({ rlimits: { maxFileMb: 1 } }, shWrite);
  t.match(sh.stderr, /File size limit exceeded/, "head is killed by SIGXFSZ: sandbox-init reset the SIG_IGN it inherited from Node");
  t.end();
});

t.test("open files: past openFiles, open() gets EMFILE", (t) => {
  const py = "import errno\nfs = []\ntry:\n    for i in range(200): fs.append(open('/dev/null'))\n    print('opened')\nexcept OSError as e: print(errno.errorcode[e.errno], len(fs))";
  t.equal(runInit({}, [PYTHON, "-c", py]).stdout.trim(), "opened");
  t.match(runInit({ rlimits: { openFiles: 32 } }, [PYTHON, "-c", py]).stdout.trim(), /^EMFILE 2\d$/);
  t.end();
});

const FORK_BOMB = `
import errno, json, os
n, err = 0, None
r, w = os.pipe()
for i in range(40):
    try:
        pid = os.fork()
    except OSError as e:
        err = errno.errorcode[e.errno]; break
    if pid == 0:
        os.close(w); os.read(r, 1); os._exit(0)  # lives until the parent closes the pipe
    n += 1
os.close(w)
for i in range(n): os.wait()  # reap them all, so the next run starts from zero processes
print(json.dumps({"forked": n, "error": err}))`;

t.test("processes: a fork bomb hits EAGAIN at maxProcs when the sandbox runs as an unprivileged host uid", (t) => {
  const spec = { rlimits: { maxProcs: 10 } };
  const asNobody = IS_ROOT ? { uid: NOBODY } : {};
  t.same(JSON.parse(runInit({}, [PYTHON, "-c", FORK_BOMB], asNobody).stdout), { forked: 40, error: null }, "40 forks without the limit");
  const limited = JSON.parse(runInit(spec, [PYTHON, "-c", FORK_BOMB], asNobody).stdout) as { forked: number; error: string };
  t.equal(limited.error, "EAGAIN", "fork fails with EAGAIN");
  t.ok(limited.forked < 10, `after ${limited.forked} children`);
  if (BWRAP) {
    const inBwrap = JSON.parse(runInit(spec, [PYTHON, "-c", FORK_BOMB], { ...asNobody, bwrap: true }).stdout) as { error: string };
    t.equal(inBwrap.error, "EAGAIN", "the same inside bwrap --unshare-all");
  }
  t.end();
});

t.test("processes: as host root RLIMIT_NPROC is not enforced, even inside bwrap's user namespace", { skip: IS_ROOT ? false : "not root" }, (t) => {
  const spec = { rlimits: { maxProcs: 10 } };
  t.same(JSON.parse(runInit(spec, [PYTHON, "-c", FORK_BOMB]).stdout), { forked: 40, error: null }, "root on the host");
  if (BWRAP) {
    const mapped = runInit(spec, [PYTHON, "-c", FORK_BOMB], { bwrap: true, bwrapArgs: ["--uid", "1000"] });
    t.same(JSON.parse(mapped.stdout), { forked: 40, error: null }, "bwrap --uid 1000 started by root (still host uid 0)");
  }
  t.end();
});

t.test("cpu: an infinite loop is killed by SIGXCPU after cpuSeconds", (t) => {
  for (const [what, argv] of [
    ["node", [NODE, "-e", "for (;;);"]],
    ["python", [PYTHON, "-c", "while True: pass"]],
  ] as const) {
    const limited = runInit({ rlimits: { cpuSeconds: 1 } }, [...argv], { timeoutMs: 10_000 });
    t.equal(limited.signal, "SIGXCPU", `${what} dies of SIGXCPU (${limited.ms} ms)`);
    t.ok(limited.ms < 5000, "within a few seconds");
  }
  const unlimited = runInit({}, [PYTHON, "-c", "while True: pass"], { timeoutMs: 2500 });
  t.equal(unlimited.signal, "SIGKILL", "without the limit the loop runs until the test's own timeout kills it");
  t.end();
});
