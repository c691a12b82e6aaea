import type { PyodideAPI } from "pyodide";

/**
 * The interpreter's own file system (Emscripten's MEMFS) as snippets see it:
 *
 * - the scratch directories (/tmp, /home/pyodide, site-packages) are MEMFS mounts of their own,
 *   replaced by empty ones on every reset, so nothing a snippet writes there (new files or changes
 *   to old ones) reaches the next snippet;
 * - everything else of MEMFS (/lib with the standard library and lib-dynload, /home, /dev/shm, /)
 *   is read-only: every MEMFS operation that creates, changes or removes something there fails
 *   with EROFS, and so does opening a file there for writing.
 *
 * The check is made in MEMFS's own operation tables, which every node shares, on the node itself:
 * a path with `..`, a symlink (made in /tmp) or a rename cannot lead around it. /mount and the
 * policy's paths are a different file system (pyodide-proxy-fs.ts) and are not affected.
 */

type Any = any; // Emscripten's FS objects are untyped

const EROFS = 69; // Emscripten's errno numbering (WASI)
const O_ACCMODE = 3;
const O_APPEND = 0o2000;

/**
 * Mounts an empty MEMFS on each scratch directory; the function returned replaces them by empty
 * ones again (call it with nothing mounted below them).
 */
export function mountScratch(py: PyodideAPI, scratch: readonly string[]): () => void {
  const FS = (py as Any).FS as Any;
  const MEMFS = (py as Any)._module.MEMFS as Any;
  const fresh = () => {
    for (const dir of scratch) {
      const { node } = FS.lookupPath(dir, { follow_mount: false });
      if (FS.isMountpoint(node)) FS.unmount(dir);
      FS.mount(MEMFS, {}, dir);
    }
  };
  for (const dir of scratch) FS.mkdirTree(dir);
  fresh();
  return fresh;
}

/** From now on, MEMFS outside the scratch mounts is read-only (EROFS). */
export function protectInterpreterFs(py: PyodideAPI): void {
  const FS = (py as Any).FS as Any;
  const MEMFS = (py as Any)._module.MEMFS as Any;
  const rootMount = FS.root.mount;
  const refuse = (node: Any) => {
    if (node?.mount === rootMount) throw new FS.ErrnoError(EROFS);
  };
  const guard = (ops: Any, name: string, target: (...args: Any[]) => Any) => {
    const original = ops?.[name] as ((...args: Any[]) => Any) | undefined;
    if (!original) return;
    ops[name] = function (this: unknown, ...args: Any[]) {
      refuse(target(...args));
      return original.apply(this, args);
    };
  };
  if (!MEMFS.ops_table) throw new Error("MEMFS has made no node yet (mount the scratch directories first)");
  const table = MEMFS.ops_table as Record<"dir" | "file" | "link" | "chrdev", { node: Any; stream: Any }>;
  for (const kind of ["dir", "file", "link", "chrdev"] as const) guard(table[kind].node, "setattr", (node) => node);
  const dir = table.dir.node;
  // Pyodide itself makes /dev/capture_stderr (and removes it) to format a Python exception for
  // JavaScript: character devices made from now on may come and go in /dev, nothing else there.
  const devDir = FS.lookupPath("/dev").node;
  const devices = new WeakSet<object>();
  const mknod = dir.mknod as (parent: Any, name: string, mode: number, dev: number) => Any;
  dir.mknod = (parent: Any, name: string, mode: number, dev: number) => {
    if (!(parent === devDir && FS.isChrdev(mode))) refuse(parent);
    const node = mknod(parent, name, mode, dev);
    if (parent === devDir) devices.add(node);
    return node;
  };
  guard(dir, "unlink", (parent, name) => (devices.has(parent.contents?.[name]) ? null : parent));
  guard(dir, "symlink", (parent) => parent);
  guard(dir, "rmdir", (parent) => parent);
  guard(dir, "rename", (oldNode, newDir) => (oldNode.mount === rootMount ? oldNode : newDir));
  const file = table.file.stream;
  guard(file, "write", (stream) => stream.node);
  guard(file, "msync", (stream) => stream.node);
  // Opening for writing is refused at open, so no writable stream (or shared writable mapping)
  // of such a file exists. (O_TRUNC has truncated through setattr before this.)
  const open = file.open as ((stream: Any) => void) | undefined;
  file.open = (stream: Any) => {
    if ((stream.flags & O_ACCMODE) !== 0 || (stream.flags & O_APPEND) !== 0) refuse(stream.node);
    open?.(stream);
  };
}
