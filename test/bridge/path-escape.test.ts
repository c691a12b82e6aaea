import { existsSync, mkdirSync, readFileSync, renameSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { FileOperations } from "../../bridge/fs-ops.js";
import { type Access, PathGuard, type Resolution } from "../../bridge/path-guard.js";
import { makeBridge } from "./fixtures/bridge.js";
import { b64, rejects } from "./fixtures/harness.js";
import { makeTree, treePolicy } from "./fixtures/tree.js";

/** Every attack here must be refused AND must leave the outside untouched. */

const READ = { code: "policy_denied", rule: "filesystem.readonly" };
const WRITE = { code: "policy_denied", rule: "filesystem.readwrite" };

t.test("'..' cannot climb out", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  await rejects(t, perform({ op: "fs.read", path: `${tree.rw}/../outside/secret.txt` }), READ, "rw/../outside/secret.txt");
  await rejects(t, perform({ op: "fs.read", path: `${tree.rw}/sub/../../outside/secret.txt` }), READ, "rw/sub/../../outside/secret.txt");
  await rejects(t, perform({ op: "fs.read", path: `${tree.rw}/../../../../../../etc/passwd` }), READ, "many ..");
  await rejects(t, perform({ op: "fs.write", path: `${tree.rw}/sub/../../outside/x`, data: b64("x") }), WRITE, "write with ..");
  t.notOk(existsSync(join(tree.outside, "x")));
  await rejects(t, perform({ op: "fs.list", path: `${tree.rw}/..` }), READ, "list rw/..");
});

t.test("absolute paths outside every root", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  await rejects(t, perform({ op: "fs.read", path: "/etc/passwd" }), { ...READ, message: /^read of \/etc\/passwd refused: not under a filesystem\.readonly or filesystem\.readwrite root$/ }, "/etc/passwd");
  await rejects(t, perform({ op: "fs.write", path: "/etc/passwd", data: b64("x") }), { ...WRITE, message: /^write to \/etc\/passwd refused: not under a filesystem\.readwrite root$/ }, "write /etc/passwd");
  await rejects(t, perform({ op: "fs.list", path: "/" }), READ, "list /");
  await rejects(t, perform({ op: "fs.list", path: tree.base }), READ, "list the parent of the roots");
  // Refusals outside do not reveal whether something exists there.
  const there = await rejects(t, perform({ op: "fs.stat", path: tree.secret }), READ, "stat an existing outside file");
  const notThere = await rejects(t, perform({ op: "fs.stat", path: join(tree.outside, "no-such-file") }), READ, "stat a missing outside file");
  t.equal(there?.code, notThere?.code, "same answer whether or not it exists");
});

t.test("a symlink inside a root pointing outside", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  const link = join(tree.rw, "link-out");
  await rejects(t, perform({ op: "fs.read", path: link }), { ...READ, message: new RegExp(`it leads to ${tree.secret}`) }, "read through it");
  await rejects(t, perform({ op: "fs.write", path: link, data: b64("pwned") }), WRITE, "write through it");
  await rejects(t, perform({ op: "fs.write", path: link, data: b64("pwned"), mode: "append" }), WRITE, "append through it");
  t.equal(readFileSync(tree.secret, "utf8"), "secret", "the outside file is unchanged");
  await rejects(t, perform({ op: "fs.stat", path: link }), READ, "stat through it");
  await rejects(t, perform({ op: "fs.realpath", path: link }), READ, "realpath through it");
  await rejects(t, perform({ op: "exec", command: "/bin/true" }), { code: "policy_denied", rule: "exec.allow" }, "(exec is not allowed by this policy)");
});

t.test("a symlinked parent directory pointing outside", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  const dir = join(tree.rw, "dirlink-out");
  await rejects(t, perform({ op: "fs.list", path: dir }), READ, "list through it");
  await rejects(t, perform({ op: "fs.read", path: join(dir, "secret.txt") }), READ, "read a file under it");
  await rejects(t, perform({ op: "fs.write", path: join(dir, "planted.txt"), data: b64("x") }), WRITE, "create a file under it");
  await rejects(t, perform({ op: "fs.mkdir", path: join(dir, "newdir"), recursive: true }), WRITE, "mkdir under it");
  await rejects(t, perform({ op: "fs.rm", path: join(dir, "secret.txt") }), WRITE, "rm under it");
  await rejects(t, perform({ op: "fs.rename", from: join(dir, "secret.txt"), to: join(tree.rw, "stolen.txt") }), WRITE, "rename from under it");
  t.notOk(existsSync(join(tree.outside, "planted.txt")));
  t.notOk(existsSync(join(tree.outside, "newdir")));
  t.ok(existsSync(tree.secret));
});

t.test("a dangling symlink pointing outside", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  for (const mode of ["overwrite", "append", "create"] as const) {
    await rejects(t, perform({ op: "fs.write", path: join(tree.rw, "dangling-out"), data: b64("x"), mode }), WRITE, `write (${mode}) through it`);
  }
  t.notOk(existsSync(join(tree.outside, "created-by-attack.txt")), "nothing was created outside");
  await rejects(t, perform({ op: "fs.mkdir", path: join(tree.rw, "dangling-out", "d"), recursive: true }), WRITE, "mkdir -p through it");
});

t.test("rename cannot move anything out (or in)", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  await rejects(t, perform({ op: "fs.rename", from: join(tree.rw, "file.txt"), to: join(tree.outside, "exfil.txt") }), WRITE, "to outside");
  await rejects(t, perform({ op: "fs.rename", from: join(tree.rw, "file.txt"), to: join(tree.rw, "dirlink-out", "exfil.txt") }), WRITE, "to outside through a symlinked dir");
  await rejects(t, perform({ op: "fs.rename", from: tree.secret, to: join(tree.rw, "in.txt") }), WRITE, "from outside");
  await rejects(t, perform({ op: "fs.rename", from: join(tree.ro, "ro.txt"), to: join(tree.rw, "ro.txt") }), WRITE, "from a read-only root");
  await rejects(t, perform({ op: "fs.rename", from: join(tree.rw, "file.txt"), to: join(tree.ro, "f.txt") }), WRITE, "into a read-only root");
  await rejects(t, perform({ op: "fs.rename", from: tree.rw, to: join(tree.base, "moved") }), WRITE, "the root itself");
  await rejects(t, perform({ op: "fs.rename", from: join(tree.rw, "sub"), to: tree.rw }), WRITE, "onto the root");
  t.ok(existsSync(join(tree.rw, "file.txt")));
  t.notOk(existsSync(join(tree.outside, "exfil.txt")));
});

t.test("the roots themselves cannot be removed", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  await rejects(t, perform({ op: "fs.rm", path: tree.rw, recursive: true }), { ...WRITE, message: /it is the filesystem\.readwrite root/ }, "rm -r the root");
  await rejects(t, perform({ op: "fs.rm", path: `${tree.rw}/.`, recursive: true }), WRITE, "rm -r root/.");
  await rejects(t, perform({ op: "fs.rm", path: `${tree.rw}/sub/..`, recursive: true }), WRITE, "rm -r root/sub/..");
  await rejects(t, perform({ op: "fs.rm", path: tree.base, recursive: true }), WRITE, "rm -r the parent of the roots");
  await rejects(t, perform({ op: "fs.rm", path: tree.ro, recursive: true }), WRITE, "rm -r the read-only root");
  t.ok(existsSync(join(tree.rw, "file.txt")) && existsSync(join(tree.ro, "ro.txt")));
});

t.test("a read-only root cannot be written", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  const ro = join(tree.ro, "ro.txt");
  await rejects(t, perform({ op: "fs.write", path: ro, data: b64("x") }), WRITE, "overwrite");
  await rejects(t, perform({ op: "fs.write", path: join(tree.ro, "new.txt"), data: b64("x") }), WRITE, "create");
  await rejects(t, perform({ op: "fs.mkdir", path: join(tree.ro, "d") }), WRITE, "mkdir");
  await rejects(t, perform({ op: "fs.rm", path: ro }), WRITE, "rm");
  symlinkSync(ro, join(tree.rw, "link-to-ro"));
  await rejects(t, perform({ op: "fs.write", path: join(tree.rw, "link-to-ro"), data: b64("x") }), WRITE, "write through a link from the rw root");
  t.equal(readFileSync(ro, "utf8"), "read only");
});

t.test("the deepest root decides: a readonly root inside a readwrite one is read-only, and the other way round", async (t) => {
  const tree = makeTree(t);
  mkdirSync(join(tree.rw, "sub", "open"));
  mkdirSync(join(tree.ro, "inner"));
  const { perform } = makeBridge({ filesystem: { readwrite: [tree.rw, join(tree.ro, "inner")], readonly: [join(tree.rw, "sub"), tree.ro] } });
  const refusal = { ...WRITE, message: /inside the filesystem\.readwrite root .* the deeper filesystem\.readonly root .*\/rw\/sub decides/ };
  await rejects(t, perform({ op: "fs.write", path: join(tree.rw, "sub", "inner.txt"), data: b64("x") }), refusal, "overwrite under the nested readonly root");
  await rejects(t, perform({ op: "fs.write", path: join(tree.rw, "sub", "new.txt"), data: b64("x") }), WRITE, "create under it");
  await rejects(t, perform({ op: "fs.mkdir", path: join(tree.rw, "sub", "open", "d") }), WRITE, "mkdir deeper under it");
  await rejects(t, perform({ op: "fs.rm", path: join(tree.rw, "sub", "inner.txt") }), WRITE, "rm under it");
  await rejects(t, perform({ op: "fs.rename", from: join(tree.rw, "file.txt"), to: join(tree.rw, "sub", "moved.txt") }), WRITE, "rename into it");
  t.equal(readFileSync(join(tree.rw, "sub", "inner.txt"), "utf8"), "inner");
  t.notOk(existsSync(join(tree.rw, "sub", "new.txt")));
  t.same(await perform({ op: "fs.read", path: join(tree.rw, "sub", "inner.txt"), offset: 0, length: 100 }).then((r) => Buffer.from(r.data, "base64").toString()), "inner", "still readable");
  await perform({ op: "fs.write", path: join(tree.rw, "beside.txt"), data: b64("ok") });
  t.equal(readFileSync(join(tree.rw, "beside.txt"), "utf8"), "ok", "the rest of the readwrite root stays writable");
  await perform({ op: "fs.write", path: join(tree.ro, "inner", "w.txt"), data: b64("deeper rw") });
  t.equal(readFileSync(join(tree.ro, "inner", "w.txt"), "utf8"), "deeper rw", "a readwrite root inside a readonly one is writable");
  await rejects(t, perform({ op: "fs.write", path: join(tree.ro, "w.txt"), data: b64("x") }), WRITE, "beside it, the readonly root still is not");
});

t.test("malformed paths are refused by the schema", async (t) => {
  const tree = makeTree(t);
  const { perform } = makeBridge(treePolicy(tree));
  await rejects(t, perform({ op: "fs.read", path: `${tree.rw}/file.txt\0/../../outside/secret.txt` }), { code: "bad_params", field: "op.path", message: /NUL/ }, "NUL byte");
  await rejects(t, perform({ op: "fs.read", path: "file.txt" }), { code: "bad_params", field: "op.path", message: /absolute/ }, "relative path");
  await rejects(t, perform({ op: "fs.rename", from: join(tree.rw, "file.txt"), to: "../x" }), { code: "bad_params", field: "op.to" }, "relative rename target");
});

/** A guard that swaps `victim` for a symlink to `target` right after its check, before the use. */
class RacingGuard extends PathGuard {
  armed = false;
  constructor(roots: { readonly: string[]; readwrite: string[] }, private readonly victim: string, private readonly target: string) {
    super(roots);
  }
  override async resolve(path: string, access: Access, followFinal: boolean): Promise<Resolution> {
    const result = await super.resolve(path, access, followFinal);
    if (this.armed) {
      this.armed = false;
      renameSync(this.victim, `${this.victim}.orig`);
      symlinkSync(this.target, this.victim);
    }
    return result;
  }
}

t.test("a directory swapped for a symlink between check and use", async (t) => {
  for (const attack of ["read", "write", "write-deeper", "list", "mkdir", "rm"] as const) {
    const tree = makeTree(t);
    const sub = join(tree.rw, "sub");
    const guard = new RacingGuard({ readonly: [], readwrite: [tree.rw] }, sub, tree.outside);
    const files = new FileOperations(guard);
    const attempt = {
      read: () => files.read({ op: "fs.read", path: join(sub, "secret.txt"), offset: 0, length: 100 }),
      write: () => files.write({ op: "fs.write", path: join(sub, "planted.txt"), data: b64("x"), mode: "overwrite", fileMode: 0o644 }),
      // `sub` is now a middle component: only the /proc/self/fd check can notice.
      "write-deeper": () => files.write({ op: "fs.write", path: join(sub, "deeper", "planted.txt"), data: b64("x"), mode: "overwrite", fileMode: 0o644 }),
      list: () => files.list({ op: "fs.list", path: sub }),
      mkdir: () => files.mkdir({ op: "fs.mkdir", path: join(sub, "a", "b"), recursive: true, fileMode: 0o755 }),
      rm: () => files.rm({ op: "fs.rm", path: join(sub, "secret.txt"), recursive: false, force: false }),
    }[attack];
    // For read and rm the check itself must pass, so give the inside directory the same file.
    if (attack === "write-deeper") {
      mkdirSync(join(sub, "deeper"));
      mkdirSync(join(tree.outside, "deeper"));
    }
    if (attack === "read" || attack === "rm") await files.write({ op: "fs.write", path: join(sub, "secret.txt"), data: b64("inside"), mode: "create", fileMode: 0o644 });
    guard.armed = true;
    await rejects(t, attempt(), { code: "policy_denied", message: /changed while it was being checked/ }, `${attack} after the swap`);
    t.ok(existsSync(tree.secret) && readFileSync(tree.secret, "utf8") === "secret", `${attack}: the outside secret is intact`);
    const planted = ["planted.txt", "a", join("deeper", "planted.txt")].filter((p) => existsSync(join(tree.outside, p)));
    t.same(planted, [], `${attack}: nothing was created outside`);
  }
});

t.test("a final component swapped for a symlink between check and use", async (t) => {
  const tree = makeTree(t);
  const victim = join(tree.rw, "file.txt");
  const guard = new RacingGuard({ readonly: [], readwrite: [tree.rw] }, victim, tree.secret);
  const files = new FileOperations(guard);
  guard.armed = true;
  await rejects(t, files.read({ op: "fs.read", path: victim, offset: 0, length: 100 }), { code: "policy_denied", message: /changed while it was being checked \(it is now a symlink\)/ }, "read");
  renameSync(`${victim}.orig`, victim);
  guard.armed = true;
  await rejects(t, files.write({ op: "fs.write", path: victim, data: b64("pwned"), mode: "overwrite", fileMode: 0o644 }), { code: "io_error", errno: "ELOOP" }, "write");
  t.equal(readFileSync(tree.secret, "utf8"), "secret", "the outside file is unchanged");
});
