import { constants as C, type Dirent, type Stats, promises as fsp } from "node:fs";
import { McpwError } from "../protocol/errors.js";
import type { OpResult } from "../protocol/ops.js";
import { ioError, ioFailure } from "./io-error.js";
import type { OpOf } from "./op-types.js";
import { type GuardedEntry, O_PATH, type PathGuard, using } from "./path-guard.js";

/**
 * The fs.* operations, each through the PathGuard: every object is reached through a verified
 * `/proc/self/fd/N` handle (see path-guard.ts), and OS errors become io_error with the errno and the
 * path the caller asked for.
 */

/**
 * The schema already refuses more than 0o777 (protocol/ops.ts FileMode); masked again here, as the
 * bridge may run as root and must never create a setuid, setgid or sticky file whatever reaches it.
 */
const PERMISSION_BITS = 0o777;
const SETID_BITS = 0o6000;

type FileType = OpResult<"fs.list">["entries"][number]["type"];

function typeOf(s: Stats | Dirent): FileType {
  if (s.isFile()) return "file";
  if (s.isDirectory()) return "dir";
  if (s.isSymbolicLink()) return "symlink";
  return "other";
}

function statResult(s: Stats): OpResult<"fs.stat"> {
  return {
    type: typeOf(s),
    size: s.size,
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    nlink: s.nlink,
    ino: s.ino,
    dev: s.dev,
    atimeMs: s.atimeMs,
    mtimeMs: s.mtimeMs,
    ctimeMs: s.ctimeMs,
    birthtimeMs: s.birthtimeMs,
  };
}

function notFound(path: string): McpwError {
  return ioFailure("ENOENT", `${path}: ENOENT (no such file or directory)`);
}

/** Runs `fn`, naming `path` in any OS error it throws. */
async function about<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw ioError(err, path);
  }
}

/** Removes the directory `name` in `dirProc` and everything below it, never following a symlink. */
async function removeTree(dirProc: string, name: string): Promise<void> {
  // O_NOFOLLOW|O_DIRECTORY: if `name` was swapped for a symlink, this fails instead of wandering off.
  const fh = await fsp.open(`${dirProc}/${name}`, O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW);
  try {
    const here = `/proc/self/fd/${fh.fd}`;
    for (const d of await fsp.readdir(here, { withFileTypes: true })) {
      if (d.isDirectory()) await removeTree(here, d.name);
      else await fsp.unlink(`${here}/${d.name}`);
    }
  } finally {
    await fh.close();
  }
  await fsp.rmdir(`${dirProc}/${name}`);
}

export class FileOperations {
  private readonly guard: PathGuard;

  constructor(guard: PathGuard) {
    this.guard = guard;
  }

  /** Refuses to remove or rename a root, or a directory holding one. */
  private refuseRootChange(verb: string, e: GuardedEntry): void {
    const root = this.guard.rootAffectedBy(e.real);
    if (!root) return;
    const rule = root.writable ? "filesystem.readwrite" : "filesystem.readonly";
    const relation = root.real === e.real ? "it is" : "it contains";
    throw new McpwError("policy_denied", `${verb} ${e.path} refused: ${relation} the ${rule} root ${root.configured}`, { rule });
  }

  async stat(op: OpOf<"fs.stat">): Promise<OpResult<"fs.stat">> {
    if (op.follow) return using(this.guard.object(op.path, "read"), async (o) => statResult(o.stat));
    return using(this.guard.entry(op.path, "read", false), (e) => about(op.path, async () => statResult(await fsp.lstat(e.proc))));
  }

  async read(op: OpOf<"fs.read">): Promise<OpResult<"fs.read">> {
    return using(this.guard.object(op.path, "read"), (o) =>
      about(op.path, async () => {
        if (o.stat.isDirectory()) throw ioFailure("EISDIR", `${op.path}: EISDIR (is a directory)`);
        if (!o.stat.isFile()) throw ioFailure("EINVAL", `${op.path}: EINVAL (not a regular file)`);
        const fh = await fsp.open(o.proc, C.O_RDONLY);
        try {
          const size = (await fh.stat()).size;
          const buf = Buffer.alloc(op.length);
          let got = 0;
          while (got < op.length) {
            const { bytesRead } = await fh.read(buf, got, op.length - got, op.offset + got);
            if (bytesRead === 0) break;
            got += bytesRead;
          }
          const eof = got < op.length || op.offset + got >= size;
          return { data: buf.subarray(0, got).toString("base64"), eof, size };
        } finally {
          await fh.close();
        }
      }),
    );
  }

  async write(op: OpOf<"fs.write">): Promise<OpResult<"fs.write">> {
    const data = Buffer.from(op.data, "base64");
    const how = { overwrite: C.O_TRUNC, append: C.O_APPEND, create: C.O_EXCL }[op.mode];
    // Symlinks are followed by the guard; the final name it approved is opened with O_NOFOLLOW, so
    // a symlink planted there since is refused (ELOOP). O_NONBLOCK: a FIFO must not hang the bridge.
    const flags = C.O_WRONLY | C.O_CREAT | C.O_NOFOLLOW | C.O_NONBLOCK | how;
    return using(this.guard.entry(op.path, "write", true), (e) =>
      about(op.path, async () => {
        const fh = await fsp.open(e.proc, flags, op.fileMode & PERMISSION_BITS);
        try {
          const st = await fh.stat();
          if (!st.isFile()) throw ioFailure("EINVAL", `${op.path}: EINVAL (not a regular file)`);
          // The kernel clears setuid/setgid when an unprivileged process writes a file, but not for
          // root (CAP_FSETID): do it here, or new contents of a setuid program in a root would run so.
          if ((st.mode & SETID_BITS) !== 0) await fh.chmod(st.mode & 0o1777);
          let written = 0;
          while (written < data.length) written += (await fh.write(data, written, data.length - written)).bytesWritten;
          return { written };
        } finally {
          await fh.close();
        }
      }),
    );
  }

  async list(op: OpOf<"fs.list">): Promise<OpResult<"fs.list">> {
    return using(this.guard.object(op.path, "read"), (o) =>
      about(op.path, async () => {
        if (!o.stat.isDirectory()) throw ioFailure("ENOTDIR", `${op.path}: ENOTDIR (not a directory)`);
        const entries = (await fsp.readdir(o.proc, { withFileTypes: true })).map((d) => ({ name: d.name, type: typeOf(d) }));
        return { entries: entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
      }),
    );
  }

  async mkdir(op: OpOf<"fs.mkdir">): Promise<OpResult<"fs.mkdir">> {
    // mkdir(2) does not follow a symlink in the last place; neither does the check.
    const where = await this.guard.resolve(op.path, "write", false);
    if (where.exists) {
      if (!op.recursive) throw ioFailure("EEXIST", `${op.path}: EEXIST (file already exists)`);
      const isDir = await using(this.guard.object(op.path, "write"), async (o) => o.stat.isDirectory());
      if (!isDir) throw ioFailure("EEXIST", `${op.path}: EEXIST (exists and is not a directory)`);
      return { created: false };
    }
    if (where.missing.length > 1 && !op.recursive) throw notFound(op.path);
    const top = await this.guard.entryAt(op.path, "write", where.parentReal, where.missing[0] as string, false);
    const opened: { close(): Promise<void> }[] = [top];
    try {
      await about(op.path, async () => {
        let dir = top.procParent;
        for (const [i, name] of where.missing.entries()) {
          await fsp.mkdir(`${dir}/${name}`, op.fileMode & PERMISSION_BITS).catch((err: NodeJS.ErrnoException) => {
            if (!(op.recursive && err.code === "EEXIST")) throw err; // lost a race to another mkdir -p
          });
          if (i === where.missing.length - 1) break;
          const fh = await fsp.open(`${dir}/${name}`, O_PATH | C.O_DIRECTORY | C.O_NOFOLLOW);
          opened.push(fh);
          dir = `/proc/self/fd/${fh.fd}`;
        }
      });
      return { created: true };
    } finally {
      for (const h of opened.reverse()) await h.close();
    }
  }

  async rm(op: OpOf<"fs.rm">): Promise<OpResult<"fs.rm">> {
    let e: GuardedEntry;
    try {
      e = await this.guard.entry(op.path, "write", false);
    } catch (err) {
      if (op.force && err instanceof McpwError && err.errno === "ENOENT") return { removed: false };
      throw err;
    }
    return using(Promise.resolve(e), (e) =>
      about(op.path, async () => {
        if (!e.exists) {
          if (op.force) return { removed: false };
          throw notFound(op.path);
        }
        this.refuseRootChange("removing", e);
        const st = await fsp.lstat(e.proc);
        if (!st.isDirectory()) await fsp.unlink(e.proc);
        else if (op.recursive) await removeTree(e.procParent, e.name);
        else throw ioFailure("EISDIR", `${op.path}: EISDIR (is a directory; set recursive to remove it)`);
        return { removed: true };
      }),
    );
  }

  async rename(op: OpOf<"fs.rename">): Promise<OpResult<"fs.rename">> {
    // rename(2) moves and replaces names, never what a symlink points to: neither end is followed.
    return using(this.guard.entry(op.from, "write", false), (from) =>
      using(this.guard.entry(op.to, "write", false), (to) =>
        about(op.from, async () => {
          if (!from.exists) throw notFound(op.from);
          this.refuseRootChange("renaming", from);
          this.refuseRootChange("replacing", to);
          await fsp.rename(from.proc, to.proc);
          return { renamed: true };
        }),
      ),
    );
  }

  async readlink(op: OpOf<"fs.readlink">): Promise<OpResult<"fs.readlink">> {
    return using(this.guard.entry(op.path, "read", false), (e) =>
      about(op.path, async () => {
        if (!e.exists) throw notFound(op.path);
        return { target: await fsp.readlink(e.proc) };
      }),
    );
  }

  async realpath(op: OpOf<"fs.realpath">): Promise<OpResult<"fs.realpath">> {
    // The guard refuses a path that leads outside every root, so the answer is always inside one.
    return using(this.guard.object(op.path, "read"), async (o) => ({ path: o.real }));
  }
}
