import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { tempDir } from "../helpers/server.js";
import { auditLines, probe, type Attempt } from "../helpers/python.js";

/**
 * Python file access in a real sandbox: every attempt is made the way a program would make it, and
 * the host tree is checked afterwards.
 */

/**
 * Host files for a test, under /var/tmp: outside everything the sandbox sees natively (its /tmp is
 * a tmpfs of its own), so they are reachable only through the policy.
 */
function hostTree(t: Test) {
  const root = tempDir("mcpw-py-host-", "/var/tmp");
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dirs = { roDir: join(root, "ro"), rwDir: join(root, "rw"), outsideDir: join(root, "outside") };
  for (const d of Object.values(dirs)) mkdirSync(d);
  const files = { roFile: join(dirs.roDir, "notes.txt"), existingFile: join(dirs.rwDir, "existing.txt"), privateFile: join(dirs.outsideDir, "private.txt") };
  writeFileSync(files.roFile, "read-only notes\nsecond line\n");
  writeFileSync(files.existingFile, "was here before\n");
  writeFileSync(files.privateFile, "TOP-SECRET-HOST-DATA\n");
  return { root, ...dirs, ...files };
}

const OUTSIDE_RULE = "(mcpw: outside /mount and not in policy filesystem.readonly or filesystem.writable)";

t.test("a host file outside the policy is refused with EACCES naming the rule, however it is reached", async (t) => {
  const h = hostTree(t);
  const inTmp = join(tempDir("mcpw-py-tmp-"), "host-tmp.txt");
  writeFileSync(inTmp, "TOP-SECRET-IN-HOST-TMP\n");
  const { out, run } = await probe(
    `
import pathlib, shutil
p = ${JSON.stringify(h.privateFile)}
report(
    open_=attempt(lambda: open(p).read()),
    open_bytes_path=attempt(lambda: open(p.encode(), "rb").read()),
    pathlib_=attempt(lambda: pathlib.Path(p).read_text()),
    stat=attempt(lambda: os.stat(p).st_size),
    listdir=attempt(lambda: os.listdir(os.path.dirname(p))),
    relative=attempt(lambda: open(os.path.relpath(p, "/mount")).read()),
    write=attempt(lambda: open(p, "w").write("x")),
    os_open=attempt(lambda: os.open(p, os.O_RDONLY)),
    copy=attempt(lambda: shutil.copy(p, "/mount/stolen.txt")),
    exists=os.path.exists(p),
    access=os.access(p, os.R_OK),
    host_tmp=attempt(lambda: open(${JSON.stringify(inTmp)}).read()),
)`,
    ["--ro", h.roDir, "--rw", h.rwDir],
  );
  t.equal(run.code, 0, run.stderr);
  for (const name of ["open_", "open_bytes_path", "pathlib_", "stat", "listdir", "relative", "write", "os_open", "copy"]) {
    const a = out[name] as Attempt;
    t.equal(a.error, "PermissionError", `${name}: PermissionError`);
    t.equal(a.errno, 13, `${name}: EACCES`);
    t.ok(a.message?.includes(OUTSIDE_RULE), `${name}: the message names the rule`, { message: a.message });
  }
  t.equal(out.exists, false, "os.path.exists says no");
  t.equal(out.access, false, "os.access says no");
  t.equal(out.host_tmp.error, "FileNotFoundError", "/tmp is the sandbox's own: the host's /tmp files are not there at all");
  t.notOk(run.stdout.includes("TOP-SECRET"), "nothing of either file came back");
  t.notOk(existsSync(join(run.workspace, "stolen.txt")), "and nothing was copied into the workspace");
});

t.test("a --ro file is readable by open, pathlib and os.stat, and refused for writing with EROFS", async (t) => {
  const h = hostTree(t);
  const before = readFileSync(h.roFile, "utf8");
  const { out, run } = await probe(
    `
import pathlib, stat, mmap
p = ${JSON.stringify(h.roFile)}
def fileno_stat():
    with open(p, "rb") as f:
        return [os.fstat(f.fileno()).st_size, bytes(mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)[:9]).decode()]
st = os.stat(p)
report(
    text=open(p).read(),
    lines=[l.rstrip() for l in open(p)],
    binary=open(p, "rb").read().decode(),
    path_text=pathlib.Path(p).read_text(),
    size=st.st_size, is_reg=stat.S_ISREG(st.st_mode), mtime_close=abs(st.st_mtime - st.st_mtime_ns / 1e9) < 1e-3,
    isfile=os.path.isfile(p), isdir=os.path.isdir(p), exists=pathlib.Path(p).exists(), getsize=os.path.getsize(p),
    listdir=os.listdir(os.path.dirname(p)),
    access_r=os.access(p, os.R_OK), access_w=os.access(p, os.W_OK),
    fileno_stat=attempt(fileno_stat),
    write=attempt(lambda: open(p, "w")),
    append=attempt(lambda: open(p, "a")),
    update=attempt(lambda: open(p, "r+")),
    path_write=attempt(lambda: pathlib.Path(p).write_text("x")),
    remove=attempt(lambda: os.remove(p)),
    rename=attempt(lambda: os.rename(p, p + ".moved")),
    create_beside=attempt(lambda: open(os.path.join(os.path.dirname(p), "new.txt"), "w")),
    missing=attempt(lambda: open(p + ".missing")),
)`,
    ["--ro", h.roDir],
  );
  t.equal(run.code, 0, run.stderr);
  t.equal(out.text, before);
  t.same(out.lines, ["read-only notes", "second line"]);
  t.equal(out.binary, before);
  t.equal(out.path_text, before);
  t.equal(out.size, Buffer.byteLength(before));
  t.ok(out.is_reg, "a regular file");
  t.ok(out.mtime_close, "st_mtime and st_mtime_ns agree");
  t.same([out.isfile, out.isdir, out.exists, out.getsize], [true, false, true, Buffer.byteLength(before)]);
  t.same(out.listdir, ["notes.txt"]);
  t.same([out.access_r, out.access_w], [true, false]);
  t.same(out.fileno_stat.ok, [Buffer.byteLength(before), "read-only"], "a real descriptor: fstat and mmap work");
  for (const name of ["write", "append", "update", "path_write", "remove", "rename", "create_beside"]) {
    const a = out[name] as Attempt;
    t.equal(a.errno, 30, `${name}: EROFS`);
    t.match(a.message, /Read-only file system \(mcpw: .* is read-only \(filesystem\.readonly\)\)/, `${name}: names the rule`);
  }
  t.equal(out.missing.error, "FileNotFoundError", "a missing file under a --ro directory is ENOENT, from the bridge");
  t.equal(readFileSync(h.roFile, "utf8"), before, "the host file is unchanged");
  t.same(readdirSync(h.roDir), ["notes.txt"], "nothing was created beside it");
});

t.test("a --rw directory is written through the bridge: the host files really change", async (t) => {
  const h = hostTree(t);
  const blob = randomBytes(3 * 1024 * 1024 + 17); // more than one 1 MiB chunk each way
  writeFileSync(join(h.rwDir, "blob.in"), blob);
  const d = h.rwDir;
  const { out, run } = await probe(
    `
import glob, hashlib, logging.handlers, pathlib, shutil
d = ${JSON.stringify(d)}
with open(d + "/a.txt", "w") as f:
    f.write("first\\n")
with open(d + "/a.txt", "a") as f:
    append_tell = [f.tell()]
    f.write("second\\n")
    append_tell.append(f.tell())
os.mkdir(d + "/logs")
handler = logging.handlers.RotatingFileHandler(d + "/logs/app.log", maxBytes=40, backupCount=1)
log = logging.getLogger("rotating")
log.addHandler(handler)
for i in range(4):
    log.warning("line %d of the log", i)
handler.close()
excl = [attempt(lambda: open(d + "/x.txt", "x").write("once")), attempt(lambda: open(d + "/x.txt", "x"))]
blob = open(d + "/blob.in", "rb").read()
pathlib.Path(d, "blob.out").write_bytes(blob[::-1])
os.mkdir(d + "/sub")
os.makedirs(d + "/sub/deep/er")
mkdir_again = attempt(lambda: os.mkdir(d + "/sub"))
pathlib.Path(d, "sub", "deep", "f.txt").write_text("deep")
os.rename(d + "/a.txt", d + "/b.txt")
os.replace(d + "/x.txt", d + "/b2.txt")
pathlib.Path(d, "touched").touch()
with open(d + "/live.txt", "w+") as f:
    f.write("flushed")
    f.flush()
    seen_while_open = open(d + "/live.txt").read()
    f.seek(0)
    read_back = f.read()
fd = os.open(d + "/raw.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, b"raw bytes")
os.close(fd)
with os.fdopen(os.open(d + "/raw.txt", os.O_RDWR), "r+") as f:
    raw_text = f.read()
    f.write("+more")
os.mkdir(d + "/gone")
os.rmdir(d + "/gone")
os.mkdir(d + "/shared", 0o3777)
shared_mode = os.stat(d + "/shared").st_mode & 0o7777
os.rmdir(d + "/shared")
not_empty = attempt(lambda: os.rmdir(d + "/sub"))
unlink_dir = attempt(lambda: os.unlink(d + "/sub"))
os.makedirs(d + "/tree/a/b")
open(d + "/tree/a/b/c.txt", "w").close()
shutil.rmtree(d + "/tree")
os.remove(d + "/existing.txt")
report(
    excl=excl, shared_mode=shared_mode, mkdir_again=mkdir_again, not_empty=not_empty, unlink_dir=unlink_dir, append_tell=append_tell,
    blob_sha=hashlib.sha256(blob).hexdigest(),
    seen_while_open=seen_while_open, read_back=read_back, raw_text=raw_text,
    listdir=sorted(os.listdir(d)),
    scandir=sorted((e.name, e.is_dir(), e.is_file(), e.stat().st_size if e.is_file() else None) for e in os.scandir(d) if e.name != "blob.in"),
    walk=[(os.path.relpath(p, d), sorted(ds), sorted(fs)) for p, ds, fs in os.walk(d + "/sub")],
    glob=sorted(os.path.relpath(p, d) for p in glob.glob(d + "/**/*.txt", recursive=True)),
    rglob=sorted(str(p.relative_to(d)) for p in pathlib.Path(d).rglob("f.txt")),
    missing=attempt(lambda: open(d + "/nope.txt")),
    access_w=os.access(d + "/b.txt", os.W_OK),
    chmod=attempt(lambda: os.chmod(d + "/b.txt", 0o600)),
    move_out=attempt(lambda: os.rename(d + "/b.txt", "/mount/b.txt")),
)`,
    ["--rw", h.rwDir],
  );
  t.equal(run.code, 0, run.stderr);
  t.equal(out.shared_mode, 0o755, "mkdir with sticky and set-gid bits makes a plain directory (the bridge takes permission bits only)");
  t.equal(out.excl[0].ok, 4, "x creates the file");
  t.equal(out.excl[1].error, "FileExistsError", "and refuses a second time");
  t.equal(out.mkdir_again.error, "FileExistsError");
  t.equal(out.not_empty.errno, 39, "rmdir of a non-empty directory is ENOTEMPTY");
  t.equal(out.unlink_dir.errno, 21, "unlink of a directory is EISDIR");
  t.equal(out.missing.error, "FileNotFoundError");
  t.equal(out.access_w, true);
  t.equal(out.chmod.errno, 95, "chmod has no bridge operation: ENOTSUP, said plainly");
  t.match(out.chmod.message, /chmod is not supported on bridge-served paths/);
  t.equal(out.move_out.errno, 18, "a rename between the bridge and the sandbox is EXDEV (shutil.move copies then)");
  t.same(out.append_tell, [6, 13], "a file opened to append is positioned at its end");
  t.equal(readFileSync(join(d, "logs", "app.log"), "utf8"), "line 2 of the log\nline 3 of the log\n", "RotatingFileHandler rotates on the host");
  t.equal(readFileSync(join(d, "logs", "app.log.1"), "utf8"), "line 0 of the log\nline 1 of the log\n");
  t.equal(out.seen_while_open, "flushed", "flush() sends the content before close");
  t.equal(out.read_back, "flushed");
  t.equal(out.raw_text, "raw bytes");
  t.same(out.listdir, ["b.txt", "b2.txt", "blob.in", "blob.out", "live.txt", "logs", "raw.txt", "sub", "touched"]);
  t.same(out.scandir, [
    ["b.txt", false, true, 13],
    ["b2.txt", false, true, 4],
    ["blob.out", false, true, blob.length],
    ["live.txt", false, true, 7],
    ["logs", true, false, null],
    ["raw.txt", false, true, 14],
    ["sub", true, false, null],
    ["touched", false, true, 0],
  ]);
  t.same(out.walk, [
    ["sub", ["deep"], []],
    ["sub/deep", ["er"], ["f.txt"]],
    ["sub/deep/er", [], []],
  ]);
  t.same(out.glob, ["b.txt", "b2.txt", "live.txt", "raw.txt", "sub/deep/f.txt"]);
  t.same(out.rglob, ["sub/deep/f.txt"]);

  // What the host sees.
  t.equal(out.blob_sha, createHash("sha256").update(blob).digest("hex"), "3 MiB read intact");
  t.ok(readFileSync(join(d, "blob.out")).equals(Buffer.from(blob).reverse()), "3 MiB written intact");
  t.equal(readFileSync(join(d, "b.txt"), "utf8"), "first\nsecond\n");
  t.equal(readFileSync(join(d, "b2.txt"), "utf8"), "once");
  t.equal(readFileSync(join(d, "live.txt"), "utf8"), "flushed");
  t.equal(readFileSync(join(d, "raw.txt"), "utf8"), "raw bytes+more");
  t.equal(readFileSync(join(d, "sub", "deep", "f.txt"), "utf8"), "deep");
  t.equal(readFileSync(join(d, "touched"), "utf8"), "");
  t.notOk(existsSync(join(d, "existing.txt")), "os.remove removed the host file");
  t.notOk(existsSync(join(d, "tree")), "shutil.rmtree removed the host tree");
  t.notOk(existsSync(join(d, "gone")), "os.rmdir removed the host directory");
});

t.test("an --ro directory inside an --rw one is read-only: the deeper rule wins", async (t) => {
  const h = hostTree(t);
  const sub = join(h.rwDir, "sub");
  mkdirSync(sub);
  writeFileSync(join(sub, "kept.txt"), "kept\n");
  const { out, run } = await probe(
    `
sub = ${JSON.stringify(sub)}
report(
    create=attempt(lambda: open(os.path.join(sub, "new.txt"), "w")),
    overwrite=attempt(lambda: open(os.path.join(sub, "kept.txt"), "w")),
    mkdir=attempt(lambda: os.mkdir(os.path.join(sub, "d"))),
    access_w=os.access(os.path.join(sub, "kept.txt"), os.W_OK),
    read=open(os.path.join(sub, "kept.txt")).read(),
    beside=attempt(lambda: open(os.path.join(${JSON.stringify(h.rwDir)}, "beside.txt"), "w").write("ok")),
)`,
    ["--rw", h.rwDir, "--ro", sub],
  );
  t.equal(run.code, 0, run.stderr);
  for (const name of ["create", "overwrite", "mkdir"]) t.equal((out[name] as Attempt).errno, 30, `${name}: EROFS`);
  t.equal(out.access_w, false);
  t.equal(out.read, "kept\n");
  t.same(out.beside, { ok: 2 }, "the rest of the --rw directory is writable");
  t.same(readdirSync(sub), ["kept.txt"], "nothing was created under the --ro directory");
  t.equal(readFileSync(join(sub, "kept.txt"), "utf8"), "kept\n");
});

t.test("/mount is the sandbox's own: native, never the bridge", async (t) => {
  const audit = join(tempDir("mcpw-py-audit-"), "audit.jsonl");
  const { out, run } = await probe(
    `
import pathlib
pathlib.Path("/mount/native.txt").write_text("in the workspace")
os.makedirs("/mount/d/e")
report(cwd=os.getcwd(), listdir=sorted(os.listdir(".")), rel=open("native.txt").read(), bytes_names=sorted(os.listdir(b"/mount")))`,
    ["--audit", audit],
  );
  t.equal(run.code, 0, run.stderr);
  t.equal(out.cwd, "/mount");
  t.same(out.listdir, ["d", "native.txt"]);
  t.equal(out.rel, "in the workspace", "relative paths resolve against the cwd");
  t.same(out.bytes_names, ["b'd'", "b'native.txt'"], "bytes in, bytes out");
  t.equal(readFileSync(join(run.workspace, "native.txt"), "utf8"), "in the workspace", "the host workspace has the file");
  t.ok(existsSync(join(run.workspace, "d", "e")));
  const ops = auditLines(audit).filter((e) => e.event === "op");
  t.same(ops, [], "no operation went to the bridge");
});

t.test("threads share the channel, and a forked child opens its own", async (t) => {
  const h = hostTree(t);
  const { out, run } = await probe(
    `
import threading
p = ${JSON.stringify(h.roFile)}
want = open(p).read()
bad = []
def work():
    for _ in range(25):
        if open(p).read() != want or os.stat(p).st_size != len(want):
            bad.append(1)
threads = [threading.Thread(target=work) for _ in range(16)]
for th in threads: th.start()
for th in threads: th.join()
pid = os.fork()
if pid == 0:
    os._exit(0 if open(p).read() == want else 1)
_, status = os.waitpid(pid, 0)
report(bad=len(bad), child=os.waitstatus_to_exitcode(status), parent_after=open(p).read() == want)`,
    ["--ro", h.roFile],
  );
  t.equal(run.code, 0, run.stderr);
  t.same(out, { bad: 0, child: 0, parent_after: true });
});

t.test("bridge I/O from a finalizer that runs during a request neither deadlocks nor mixes up answers", async (t) => {
  const h = hostTree(t);
  const { out, run } = await probe(
    `
from _mcpw import context, jsonc
context.get()
p = ${JSON.stringify(h.roFile)}
seen = []
started = []
class Unclosed:
    def __del__(self):  # what the garbage collector may run at any allocation
        seen.append(open(p).read())
loads = jsonc.loads
def loads_with_gc(text):
    if not started:
        started.append(1)
        Unclosed()  # collected here, while this thread's request is in flight
    return loads(text)
jsonc.loads = loads_with_gc
size = os.stat(p).st_size
report(size=size, seen=seen, after=open(p).read() == seen[0])`,
    ["--ro", h.roDir],
    { timeoutMs: 20_000 },
  );
  t.equal(run.code, 0, run.stderr);
  t.same(out, { size: Buffer.byteLength("read-only notes\nsecond line\n"), seen: ["read-only notes\nsecond line\n"], after: true });
});
