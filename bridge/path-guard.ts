import { constants as C, type Stats, promises as fsp, realpathSync, statSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { posix } from "node:path";
import { McpwError } from "../protocol/errors.js";
import { ioError, ioFailure } from "./io-error.js";

/**
 * Keeps filesystem operations inside the policy's roots: `filesystem.readonly` roots may be read,
 * `filesystem.readwrite` roots read and written; where roots nest, the deepest one decides.
 *
 * How a path is checked:
 * 1. `..` in the request is resolved lexically (`/root/a/../b` is `/root/b`); a root configured
 *    through a symlink is mapped to its real location.
 * 2. The path is then walked one component at a time, as the kernel would, following symlinks
 *    (at most 40; a symlink's own `..` is physical). Before each component is looked at, it must lie
 *    inside a permitted root or on the way to one (an ancestor of a root), so the walk never even
 *    looks outside: no `..`, absolute path or symlink can leave a root, and refusals do not reveal
 *    whether something exists out there. The place the walk ends must be inside a permitted root.
 * 3. Races: a component could be swapped for a symlink between the walk and the use. So the object
 *    (or, for a name to create, remove or rename, its parent directory) is opened with O_PATH and
 *    O_NOFOLLOW, and the kernel's own record of what was opened, `readlink(/proc/self/fd/N)`, must
 *    be exactly the path the walk approved. The operation then goes through `/proc/self/fd/N` (or
 *    `/proc/self/fd/N/<name>` with calls that do not follow a final symlink), so the object that
 *    was checked is the object that is used.
 *
 * Not covered: a hard link inside a root to a file outside it is the same file, and is used as one.
 */

export type Access = "read" | "write";

/** O_PATH is not in fs.constants; this is its value on Linux (x86, arm, riscv, ...). */
export const O_PATH = 0o10000000;
const MAX_SYMLINKS = 40;

export interface Root {
  /** As written in the policy. */
  configured: string;
  /** Its real path, resolved once at construction. */
  real: string;
  writable: boolean;
}

/** An existing object, symlinks followed, opened with O_PATH and verified. */
export interface GuardedObject {
  /** The path as requested. */
  path: string;
  /** Where it really is (checked inside a root). */
  real: string;
  stat: Stats;
  /** `/proc/self/fd/N`: use this, not `real`, to reach the object. */
  proc: string;
  close(): Promise<void>;
}

/** A name inside a verified directory, not followed: to create, remove, rename, lstat or readlink. */
export interface GuardedEntry {
  path: string;
  /** Whether the name existed when it was checked. */
  exists: boolean;
  /** `parentReal/name`: where the name really is (checked inside a root). */
  real: string;
  parentReal: string;
  name: string;
  /** `/proc/self/fd/<dirfd>`: the verified parent directory. */
  procParent: string;
  /** `/proc/self/fd/<dirfd>/<name>`. */
  proc: string;
  close(): Promise<void>;
}

/** Where a path leads: an existing object, or the first missing name under an existing directory. */
export type Resolution =
  | { exists: true; real: string }
  | { exists: false; parentReal: string; missing: string[]; real: string };

export function isInside(path: string, root: string): boolean {
  return root === "/" || path === root || path.startsWith(`${root}/`);
}

function lexicallyNormal(path: string): string {
  const n = posix.normalize(path);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

export class PathGuard {
  readonly roots: readonly Root[];

  /** Throws bad_params naming the field when a root does not exist. */
  constructor(filesystem: { readonly: readonly string[]; readwrite: readonly string[] }) {
    try {
      statSync("/proc/self/fd");
    } catch {
      throw new McpwError("internal", "the bridge needs /proc/self/fd to check filesystem operations safely, and it is not there");
    }
    const make = (list: readonly string[], writable: boolean, field: string): Root[] =>
      list.map((configured, i) => {
        try {
          return { configured: lexicallyNormal(configured), real: realpathSync(configured), writable };
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? "error";
          throw new McpwError("bad_params", `${field}.${i}: root ${configured} cannot be used (${code})`, { field: `${field}.${i}` });
        }
      });
    this.roots = [...make(filesystem.readwrite, true, "filesystem.readwrite"), ...make(filesystem.readonly, false, "filesystem.readonly")];
  }

  private permitted(access: Access): Root[] {
    return this.roots.filter((r) => access === "read" || r.writable);
  }

  /**
   * The root that decides about a real path: the deepest one containing it, so a readonly root
   * inside a readwrite one is read-only (and the other way round); the same path configured both
   * ways is read-only. As wrapper/path-rules.ts decides for the sandbox's own checks.
   */
  governing(real: string): Root | undefined {
    let best: Root | undefined;
    for (const r of this.roots) {
      if (!isInside(real, r.real)) continue;
      if (!best || r.real.length > best.real.length || (r.real.length === best.real.length && !r.writable)) best = r;
    }
    return best;
  }

  /** Whether a real path lies inside a root and the deepest such root grants `access`. */
  allows(real: string, access: Access): boolean {
    const root = this.governing(real);
    return root !== undefined && (access === "read" || root.writable);
  }

  /** A root that is `real` itself or lies below it: what removing or renaming `real` would take along. */
  rootAffectedBy(real: string): Root | undefined {
    return this.roots.find((r) => isInside(r.real, real));
  }

  refusal(access: Access, path: string, reached?: string, why?: string): McpwError {
    const rule = access === "write" ? "filesystem.readwrite" : "filesystem.readonly";
    const where = access === "write" ? "a filesystem.readwrite root" : "a filesystem.readonly or filesystem.readwrite root";
    const verb = access === "write" ? `write to ${path}` : `read of ${path}`;
    const at = reached ?? path;
    const governing = access === "write" ? this.governing(at) : undefined;
    const outer = governing && this.roots.find((r) => r.writable && isInside(at, r.real));
    const nested = governing && !governing.writable && outer ? `${at} is inside the filesystem.readwrite root ${outer.configured}, but the deeper filesystem.readonly root ${governing.configured} decides` : undefined;
    const detail = why ?? nested ?? (reached && reached !== path ? `it leads to ${reached}, which is not under ${where}` : `not under ${where}`);
    return new McpwError("policy_denied", `${verb} refused: ${detail}`, { rule });
  }

  /** Maps a root written through a symlink (e.g. /tmp on some systems) to its real location. */
  private mapConfiguredRoot(path: string): string {
    const byLength = [...this.roots].sort((a, b) => b.configured.length - a.configured.length);
    const root = byLength.find((r) => r.configured !== r.real && isInside(path, r.configured));
    return root ? root.real + path.slice(root.configured.length) : path;
  }

  /**
   * Walks `path` as the kernel would (step 2 above) and returns where it leads. With
   * `followFinal` false a symlink in the last place is the answer itself. Throws policy_denied when
   * the walk would leave the permitted roots, io_error for ENOENT of a directory on the way,
   * ENOTDIR, ELOOP, ...
   */
  async resolve(path: string, access: Access, followFinal: boolean): Promise<Resolution> {
    const roots = this.permitted(access);
    const onTheWay = (p: string): boolean => roots.some((r) => isInside(p, r.real) || isInside(r.real, p));
    const todo = this.mapConfiguredRoot(lexicallyNormal(path)).split("/");
    let cur = "/";
    let links = 0;
    while (todo.length > 0) {
      const name = todo.shift() as string;
      if (name === "" || name === ".") continue;
      if (name === "..") {
        cur = posix.dirname(cur);
        continue;
      }
      const next = posix.join(cur, name);
      if (!onTheWay(next)) throw this.refusal(access, path, posix.join(next, ...todo));
      const last = todo.every((n) => n === "" || n === ".");
      let st: Stats;
      try {
        st = await fsp.lstat(next);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw ioError(err, `${path}`);
        const missing = [name, ...todo.filter((n) => n !== "" && n !== ".")];
        if (missing.includes("..")) throw ioFailure("ENOENT", `${path}: ENOENT (no such file or directory)`);
        const real = posix.join(cur, ...missing);
        if (!this.allows(real, access)) throw this.refusal(access, path, real);
        return { exists: false, parentReal: cur, missing, real };
      }
      if (st.isSymbolicLink() && (!last || followFinal)) {
        if (++links > MAX_SYMLINKS) throw ioFailure("ELOOP", `${path}: ELOOP (too many levels of symbolic links)`);
        const target = await fsp.readlink(next);
        if (target.startsWith("/")) cur = "/";
        todo.unshift(...target.split("/"));
        continue;
      }
      if (!last && !st.isDirectory()) throw ioFailure("ENOTDIR", `${path}: ENOTDIR (not a directory)`);
      cur = next;
    }
    if (!this.allows(cur, access)) throw this.refusal(access, path, cur);
    return { exists: true, real: cur };
  }

  /** Opens `real` with O_PATH|O_NOFOLLOW and checks the kernel opened exactly that (step 3 above). */
  private async openVerified(path: string, access: Access, real: string, directory: boolean): Promise<FileHandle> {
    const fh = await fsp.open(real, O_PATH | C.O_NOFOLLOW | (directory ? C.O_DIRECTORY : 0)).catch((err: NodeJS.ErrnoException) => {
      // The walk saw a directory here; a symlink (or anything else) now means it was swapped.
      if (err.code === "ELOOP" || err.code === "ENOTDIR") throw this.refusal(access, path, real, `${real} changed while it was being checked`);
      throw ioError(err, path);
    });
    try {
      const opened = await fsp.readlink(`/proc/self/fd/${fh.fd}`);
      if (opened !== real) throw this.refusal(access, path, opened, `${real} changed while it was being checked (now ${opened})`);
      return fh;
    } catch (err) {
      await fh.close();
      throw ioError(err, path);
    }
  }

  /** An existing object, symlinks followed all the way (stat, read, list, realpath, cwd). */
  async object(path: string, access: Access): Promise<GuardedObject> {
    const where = await this.resolve(path, access, true);
    if (!where.exists) throw ioFailure("ENOENT", `${path}: ENOENT (no such file or directory)`);
    const fh = await this.openVerified(path, access, where.real, false);
    const stat = await fh.stat();
    if (stat.isSymbolicLink()) {
      await fh.close();
      throw this.refusal(access, path, where.real, `${where.real} changed while it was being checked (it is now a symlink)`);
    }
    return { path, real: where.real, stat, proc: `/proc/self/fd/${fh.fd}`, close: () => fh.close() };
  }

  /**
   * A name in a verified directory. `followFinal`: follow a symlink in the last place first (write
   * through a link, or create where a dangling link points); otherwise the name is the link itself.
   * The name need not exist, but its directory must.
   */
  async entry(path: string, access: Access, followFinal: boolean): Promise<GuardedEntry> {
    const where = await this.resolve(path, access, followFinal);
    if (!where.exists && where.missing.length > 1) {
      throw ioFailure("ENOENT", `${path}: ENOENT (no such file or directory: ${posix.join(where.parentReal, where.missing[0] as string)})`);
    }
    if (where.real === "/") throw this.refusal(access, path, "/", "/ has no parent directory to work in");
    return this.entryAt(path, access, where.exists ? posix.dirname(where.real) : where.parentReal, posix.basename(where.real), where.exists);
  }

  /** The entry `name` in the directory `parentReal`, which the caller has had approved by resolve(). */
  async entryAt(path: string, access: Access, parentReal: string, name: string, exists: boolean): Promise<GuardedEntry> {
    const fh = await this.openVerified(path, access, parentReal, true);
    const procParent = `/proc/self/fd/${fh.fd}`;
    return {
      path,
      exists,
      real: posix.join(parentReal, name),
      parentReal,
      name,
      procParent,
      proc: `${procParent}/${name}`,
      close: () => fh.close(),
    };
  }
}

/** Runs `fn` with a guarded handle and closes the handle whatever happens. */
export async function using<H extends { close(): Promise<void> }, T>(handle: Promise<H>, fn: (h: H) => Promise<T>): Promise<T> {
  const h = await handle;
  try {
    return await fn(h);
  } finally {
    await h.close();
  }
}
