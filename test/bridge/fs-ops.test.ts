import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { FileOperations } from "../../bridge/fs-ops.js";
import { BridgeOperations } from "../../bridge/operations.js";
import { PathGuard } from "../../bridge/path-guard.js";
import { makeBridge } from "./fixtures/bridge.js";
import { b64, rejects, tempDir, unb64 } from "./fixtures/harness.js";
import { makeTree, treePolicy } from "./fixtures/tree.js";

t.test("stat, follow or not", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  t.match(await perform({ op: "fs.stat", path: join(tree.rw, "file.txt") }), { type: "file", size: 11 });
  t.match(await perform({ op: "fs.stat", path: join(tree.rw, "link-in") }), { type: "file", size: 11 }, "follows by default");
  t.match(await perform({ op: "fs.stat", path: join(tree.rw, "link-in"), follow: false }), { type: "symlink" });
  t.match(await perform({ op: "fs.stat", path: join(tree.rw, "link-out"), follow: false }), { type: "symlink" }, "lstat of a link inside the root is fine even when it points out");
  t.match(await perform({ op: "fs.stat", path: tree.rw }), { type: "dir" }, "a root itself");
  t.match(await perform({ op: "fs.stat", path: tree.rw, follow: false }), { type: "dir" }, "lstat of a root itself");
  t.match(await perform({ op: "fs.stat", path: join(tree.ro, "ro.txt") }), { type: "file", size: 9 }, "read-only root");
  await rejects(t, perform({ op: "fs.stat", path: join(tree.rw, "nope") }), { code: "io_error", errno: "ENOENT", message: /nope/ }, "missing file");
  await rejects(t, perform({ op: "fs.stat", path: join(tree.rw, "file.txt", "x") }), { code: "io_error", errno: "ENOTDIR" }, "through a file");
  symlinkSync("loop-b", join(tree.rw, "loop-a"));
  symlinkSync("loop-a", join(tree.rw, "loop-b"));
  await rejects(t, perform({ op: "fs.stat", path: join(tree.rw, "loop-a") }), { code: "io_error", errno: "ELOOP" }, "a symlink loop");
});

t.test("read in chunks", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  const path = join(tree.rw, "file.txt");
  const all = await perform({ op: "fs.read", path });
  t.same({ text: unb64(all.data), eof: all.eof, size: all.size }, { text: "hello world", eof: true, size: 11 });
  const first = await perform({ op: "fs.read", path, offset: 0, length: 5 });
  t.same({ text: unb64(first.data), eof: first.eof }, { text: "hello", eof: false });
  const rest = await perform({ op: "fs.read", path, offset: 6, length: 5 });
  t.same({ text: unb64(rest.data), eof: rest.eof }, { text: "world", eof: true });
  const past = await perform({ op: "fs.read", path, offset: 100, length: 5 });
  t.same({ text: unb64(past.data), eof: past.eof }, { text: "", eof: true });
  t.equal(unb64((await perform({ op: "fs.read", path: join(tree.rw, "link-in") })).data), "hello world", "through a symlink inside the root");
  t.equal(unb64((await perform({ op: "fs.read", path: join(tree.ro, "ro.txt") })).data), "read only");
  await rejects(t, perform({ op: "fs.read", path: join(tree.rw, "sub") }), { code: "io_error", errno: "EISDIR" }, "a directory");
  execFileSync("mkfifo", [join(tree.rw, "fifo")]);
  await rejects(t, perform({ op: "fs.read", path: join(tree.rw, "fifo") }), { code: "io_error", errno: "EINVAL" }, "a FIFO is refused rather than hanging the bridge");
  await rejects(t, perform({ op: "fs.write", path: join(tree.rw, "fifo"), data: b64("x") }), { code: "io_error" }, "writing a FIFO does not hang either");
});

t.test("write: overwrite, append, create", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  const path = join(tree.rw, "new.txt");
  t.same(await perform({ op: "fs.write", path, data: b64("one") }), { written: 3 });
  t.same(await perform({ op: "fs.write", path, data: b64("+two"), mode: "append" }), { written: 4 });
  t.equal(readFileSync(path, "utf8"), "one+two");
  await perform({ op: "fs.write", path, data: b64("three") });
  t.equal(readFileSync(path, "utf8"), "three", "overwrite truncates");
  await rejects(t, perform({ op: "fs.write", path, data: b64("x"), mode: "create" }), { code: "io_error", errno: "EEXIST" }, "create refuses an existing file");
  await perform({ op: "fs.write", path: join(tree.rw, "created.txt"), data: b64("c"), mode: "create", fileMode: 0o600 });
  t.equal(readFileSync(join(tree.rw, "created.txt"), "utf8"), "c");
  await perform({ op: "fs.write", path: join(tree.rw, "link-in"), data: b64("via link") });
  t.equal(readFileSync(join(tree.rw, "file.txt"), "utf8"), "via link", "writes through a symlink inside the root");
  await perform({ op: "fs.write", path: join(tree.rw, "dangling-in"), data: b64("made"), mode: "create" });
  t.equal(readFileSync(join(tree.rw, "made-through-link.txt"), "utf8"), "made", "creates where a dangling link inside the root points");
  await rejects(t, perform({ op: "fs.write", path: join(tree.rw, "no", "such", "dir.txt"), data: b64("x") }), { code: "io_error", errno: "ENOENT" }, "parent directories are not created");
  await rejects(t, perform({ op: "fs.write", path: join(tree.rw, "sub"), data: b64("x") }), { code: "io_error", errno: "EISDIR" }, "a directory");
});

t.test("list", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  const { entries } = await perform({ op: "fs.list", path: tree.rw });
  t.same(entries, [
    { name: "dangling-in", type: "symlink" },
    { name: "dangling-out", type: "symlink" },
    { name: "dirlink-out", type: "symlink" },
    { name: "file.txt", type: "file" },
    { name: "link-in", type: "symlink" },
    { name: "link-out", type: "symlink" },
    { name: "sub", type: "dir" },
  ]);
  await rejects(t, perform({ op: "fs.list", path: join(tree.rw, "file.txt") }), { code: "io_error", errno: "ENOTDIR" }, "a file");
});

t.test("mkdir", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  t.same(await perform({ op: "fs.mkdir", path: join(tree.rw, "d") }), { created: true });
  await rejects(t, perform({ op: "fs.mkdir", path: join(tree.rw, "d") }), { code: "io_error", errno: "EEXIST" }, "exists");
  await rejects(t, perform({ op: "fs.mkdir", path: join(tree.rw, "a", "b", "c") }), { code: "io_error", errno: "ENOENT" }, "deep without recursive");
  t.same(await perform({ op: "fs.mkdir", path: join(tree.rw, "a", "b", "c"), recursive: true }), { created: true });
  t.ok(existsSync(join(tree.rw, "a", "b", "c")));
  t.same(await perform({ op: "fs.mkdir", path: join(tree.rw, "a", "b"), recursive: true }), { created: false }, "recursive on an existing directory");
  await rejects(t, perform({ op: "fs.mkdir", path: join(tree.rw, "file.txt"), recursive: true }), { code: "io_error", errno: "EEXIST" }, "recursive on a file");
});

t.test("rm", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  t.same(await perform({ op: "fs.rm", path: join(tree.rw, "file.txt") }), { removed: true });
  t.notOk(existsSync(join(tree.rw, "file.txt")));
  await rejects(t, perform({ op: "fs.rm", path: join(tree.rw, "file.txt") }), { code: "io_error", errno: "ENOENT" }, "missing");
  t.same(await perform({ op: "fs.rm", path: join(tree.rw, "file.txt"), force: true }), { removed: false }, "force on a missing file");
  t.same(await perform({ op: "fs.rm", path: join(tree.rw, "x", "y"), force: true }), { removed: false }, "force on a missing directory");
  await rejects(t, perform({ op: "fs.rm", path: join(tree.rw, "sub") }), { code: "io_error", errno: "EISDIR" }, "a directory without recursive");
  await perform({ op: "fs.mkdir", path: join(tree.rw, "sub", "deep", "er"), recursive: true });
  await perform({ op: "fs.write", path: join(tree.rw, "sub", "deep", "er", "f"), data: b64("x") });
  symlinkSync(tree.outside, join(tree.rw, "sub", "deep", "link-to-outside"));
  t.same(await perform({ op: "fs.rm", path: join(tree.rw, "sub"), recursive: true }), { removed: true });
  t.notOk(existsSync(join(tree.rw, "sub")));
  t.ok(existsSync(tree.secret), "a recursive rm removes links, never what they point to");
  t.same(await perform({ op: "fs.rm", path: join(tree.rw, "link-out") }), { removed: true }, "removing a link that points out removes the link");
  t.ok(existsSync(tree.secret), "and leaves its target alone");
});

t.test("rename, readlink, realpath", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  t.same(await perform({ op: "fs.rename", from: join(tree.rw, "file.txt"), to: join(tree.rw, "sub", "moved.txt") }), { renamed: true });
  t.equal(readFileSync(join(tree.rw, "sub", "moved.txt"), "utf8"), "hello world");
  await rejects(t, perform({ op: "fs.rename", from: join(tree.rw, "file.txt"), to: join(tree.rw, "x") }), { code: "io_error", errno: "ENOENT" }, "missing source");
  t.same(await perform({ op: "fs.readlink", path: join(tree.rw, "link-out") }), { target: tree.secret }, "readlink shows a link's text");
  await rejects(t, perform({ op: "fs.readlink", path: join(tree.rw, "sub") }), { code: "io_error", errno: "EINVAL" }, "readlink of a directory");
  t.same(await perform({ op: "fs.realpath", path: join(tree.rw, "sub", "..", "sub", "moved.txt") }), { path: join(tree.rw, "sub", "moved.txt") });
  symlinkSync("sub/moved.txt", join(tree.rw, "link-moved"));
  t.same(await perform({ op: "fs.realpath", path: join(tree.rw, "link-moved") }), { path: join(tree.rw, "sub", "moved.txt") }, "follows links");
  await rejects(t, perform({ op: "fs.realpath", path: join(tree.rw, "dangling-in") }), { code: "io_error", errno: "ENOENT" }, "a dangling link");
});

t.test("a root configured through a symlink works under either name", async (t) => {
  const tree = makeTree(t);
  const alias = join(tree.base, "alias");
  symlinkSync(tree.rw, alias);
  const { perform } = makeBridge({ filesystem: { readwrite: [alias] } });
  t.equal(unb64((await perform({ op: "fs.read", path: join(alias, "file.txt") })).data), "hello world");
  t.equal(unb64((await perform({ op: "fs.read", path: join(tree.rw, "file.txt") })).data), "hello world");
  t.same(await perform({ op: "fs.realpath", path: join(alias, "link-in") }), { path: join(tree.rw, "file.txt") });
});

t.test("a root that does not exist is an error at construction", async (t) => {
  const dir = tempDir(t);
  t.throws(() => new BridgeOperations({ filesystem: { readonly: [join(dir, "missing")] } }, () => undefined), {
    code: "bad_params",
    field: "filesystem.readonly.0",
  });
});

t.test("fileMode: permission bits only; a bridge running as root never makes a setuid, setgid or sticky file", async (t) => {
  const tree = makeTree(t);
  const { perform, audit } = makeBridge(treePolicy(tree));
  const suid = join(tree.rw, "suid-id");
  // The reviewer's attack: a sandbox asks for a setuid-root copy of a program.
  await rejects(
    t,
    perform({ op: "fs.write", path: suid, data: b64(readFileSync("/usr/bin/id")), mode: "create", fileMode: 0o6755 }),
    { code: "bad_params", field: "op.fileMode", message: /fileMode: .*0o777/ },
    "fs.write with setuid+setgid bits",
  );
  t.notOk(existsSync(suid), "no file was made");
  await rejects(t, perform({ op: "fs.mkdir", path: join(tree.rw, "sgid-dir"), fileMode: 0o7777 }), { code: "bad_params", field: "op.fileMode" }, "fs.mkdir with every special bit");
  t.notOk(existsSync(join(tree.rw, "sgid-dir")), "no directory was made");
  t.match(audit.at(-1), { op: "fs.mkdir", verdict: "error", fileMode: "07777" }, "the refused mode is in the audit line");

  await perform({ op: "fs.write", path: join(tree.rw, "plain.sh"), data: b64("#!/bin/sh\n"), mode: "create", fileMode: 0o750 });
  t.equal(statSync(join(tree.rw, "plain.sh")).mode & 0o7777, 0o750 & ~process.umask(), "permission bits still work");
  t.match(audit.at(-1), { op: "fs.write", verdict: "allow", fileMode: "0750" }, "and the mode asked for is audited");
  await perform({ op: "fs.mkdir", path: join(tree.rw, "d700"), fileMode: 0o700 });
  t.equal(statSync(join(tree.rw, "d700")).mode & 0o7777, 0o700);
  t.match(audit.at(-1), { op: "fs.mkdir", verdict: "allow", fileMode: "0700" });
});

t.test("fileMode: the bridge masks special bits even when the schema is bypassed, and clears them on write", async (t) => {
  const tree = makeTree(t);
  const files = new FileOperations(new PathGuard({ readonly: [], readwrite: [tree.rw] }));
  const old = process.umask(0);
  t.teardown(() => process.umask(old));
  await files.write({ op: "fs.write", path: join(tree.rw, "f"), data: b64("x"), mode: "create", fileMode: 0o6755 });
  t.equal(statSync(join(tree.rw, "f")).mode & 0o7777, 0o755, "fs.write: setuid and setgid masked off");
  await files.mkdir({ op: "fs.mkdir", path: join(tree.rw, "d"), recursive: true, fileMode: 0o7777 });
  t.equal(statSync(join(tree.rw, "d")).mode & 0o7777, 0o777, "fs.mkdir: setgid and sticky masked off");
  // A setuid program already inside a writable root: as root the bridge would keep the bit through
  // a write (CAP_FSETID), so new contents would run setuid. It clears them as the kernel does for
  // an unprivileged writer.
  const existing = join(tree.rw, "existing-suid");
  writeFileSync(existing, "old");
  chmodSync(existing, 0o6755);
  await files.write({ op: "fs.write", path: existing, data: b64("new"), mode: "overwrite", fileMode: 0o644 });
  t.equal(statSync(existing).mode & 0o7777, 0o755, "writing a setuid file clears setuid and setgid");
  t.equal(readFileSync(existing, "utf8"), "new");
});
