import type { PyodideAPI } from "pyodide";
import type { ChannelAnswer } from "./sync-channel.js";

/**
 * An Emscripten file system for Pyodide whose every operation is a synchronous call to the main
 * thread, where the snippet's VirtualFs checks and performs it (the workspace at /mount, the
 * policy's paths through the bridge). Python's open/os/pathlib work unchanged on it.
 *
 * Files are read whole on first access and written back whole on close (or fsync) when changed:
 * simple and correct for the files snippets handle. Symlinks cannot be created. Cached nodes are
 * dropped between snippets (remount), so one snippet's view never leaks into the next.
 */

type Call = (request: string) => ChannelAnswer;
type Any = any; // Emscripten's FS objects are untyped

/** Emscripten's errno numbers (WASI numbering). */
const ERRNO: Record<string, number> = {
  EACCES: 2, EBADF: 8, ECONNREFUSED: 14, EEXIST: 20, EFBIG: 22, EINVAL: 28, EIO: 29, EISDIR: 31, ELOOP: 32,
  ENAMETOOLONG: 37, ENOENT: 44, ENOSPC: 51, ENOTDIR: 54, ENOTEMPTY: 55, EPERM: 63, EROFS: 69, ETIMEDOUT: 73, EXDEV: 75,
};
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const O_TRUNC = 0o1000;

interface Stat {
  type: "file" | "dir" | "symlink" | "other";
  size: number;
  mode: number;
  ino: number;
  nlink: number;
  uid: number;
  gid: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

export function installProxyFs(py: PyodideAPI, mounts: readonly string[], call: Call): (between?: () => void) => void {
  const FS = (py as Any).FS as Any;
  const fail = (code: string): never => {
    throw new FS.ErrnoError(ERRNO[code] ?? ERRNO.EIO);
  };
  const op = (params: Record<string, unknown>): Any => {
    const a = call(JSON.stringify({ method: "fs", params }));
    if (!a.ok) fail(a.error?.code ?? "EIO");
    return a.result;
  };
  const pathOf = (node: Any): string => {
    const parts: string[] = [];
    while (node.parent !== node) {
      parts.push(node.name);
      node = node.parent;
    }
    const root = node.mount.opts.root as string;
    return parts.length ? `${root}/${parts.reverse().join("/")}` : root;
  };
  const childPath = (parent: Any, name: string) => `${pathOf(parent)}/${name}`;
  const modeOf = (st: Stat) => (st.type === "dir" ? S_IFDIR : st.type === "symlink" ? S_IFLNK : S_IFREG) | (st.mode & 0o7777);
  const stat = (path: string): Stat => op({ op: "fs.stat", path, follow: false }) as Stat;
  const readAll = (path: string): Uint8Array => {
    const chunks: Buffer[] = [];
    for (let offset = 0; ; ) {
      const r = op({ op: "fs.read", path, offset }) as { data: string; eof: boolean };
      const b = Buffer.from(r.data, "base64");
      chunks.push(b);
      offset += b.length;
      if (r.eof || b.length === 0) return new Uint8Array(Buffer.concat(chunks));
    }
  };
  const writeAll = (path: string, data: Uint8Array) => {
    const CHUNK = 4 * 1024 * 1024;
    for (let offset = 0, first = true; first || offset < data.length; offset += CHUNK, first = false) {
      op({ op: "fs.write", path, data: Buffer.from(data.subarray(offset, offset + CHUNK)).toString("base64"), mode: first ? "overwrite" : "append" });
    }
  };

  const PROXYFS: Any = {
    mount(_mount: Any) {
      return PROXYFS.createNode(null, "/", S_IFDIR | 0o777, 0);
    },
    createNode(parent: Any, name: string, mode: number, dev: number) {
      const node = FS.createNode(parent, name, mode, dev);
      node.node_ops = PROXYFS.node_ops;
      node.stream_ops = PROXYFS.stream_ops;
      return node;
    },
    node_ops: {
      getattr(node: Any) {
        const st = stat(pathOf(node));
        const t = (ms: number) => new Date(ms);
        return {
          dev: 1, ino: st.ino, mode: modeOf(st), nlink: st.nlink, uid: 0, gid: 0, rdev: 0,
          size: node.contents ? node.contents.length : st.size, atime: t(st.atimeMs), mtime: t(st.mtimeMs), ctime: t(st.ctimeMs),
          blksize: 4096, blocks: Math.ceil(st.size / 4096),
        };
      },
      setattr(node: Any, attr: Any) {
        if (attr.size === undefined) return;
        const path = pathOf(node);
        const current = node.contents ?? readAll(path);
        const next = new Uint8Array(attr.size);
        next.set(current.subarray(0, Math.min(current.length, attr.size)));
        writeAll(path, next);
        if (node.contents) node.contents = next;
      },
      lookup(parent: Any, name: string) {
        const st = stat(childPath(parent, name));
        return PROXYFS.createNode(parent, name, modeOf(st), 0);
      },
      mknod(parent: Any, name: string, mode: number, dev: number) {
        const path = childPath(parent, name);
        if ((mode & S_IFDIR) === S_IFDIR) op({ op: "fs.mkdir", path });
        else op({ op: "fs.write", path, data: "", mode: "create" });
        return PROXYFS.createNode(parent, name, mode, dev);
      },
      rename(oldNode: Any, newDir: Any, newName: string) {
        op({ op: "fs.rename", from: pathOf(oldNode), to: childPath(newDir, newName) });
        oldNode.name = newName;
      },
      unlink(parent: Any, name: string) {
        op({ op: "fs.rm", path: childPath(parent, name) });
      },
      rmdir(parent: Any, name: string) {
        const path = childPath(parent, name);
        if ((op({ op: "fs.list", path }) as { entries: unknown[] }).entries.length) fail("ENOTEMPTY");
        op({ op: "fs.rm", path, recursive: true });
      },
      readdir(node: Any) {
        return [".", "..", ...(op({ op: "fs.list", path: pathOf(node) }) as { entries: { name: string }[] }).entries.map((e) => e.name)];
      },
      symlink() {
        fail("EPERM");
      },
      readlink(node: Any) {
        return (op({ op: "fs.readlink", path: pathOf(node) }) as { target: string }).target;
      },
    },
    stream_ops: {
      open(stream: Any) {
        stream.node.contents = (stream.flags & O_TRUNC) !== 0 ? new Uint8Array(0) : null;
        stream.dirty = (stream.flags & O_TRUNC) !== 0 && FS.isFile(stream.node.mode);
      },
      close(stream: Any) {
        PROXYFS.stream_ops.fsync(stream);
        stream.node.contents = null;
      },
      fsync(stream: Any) {
        if (stream.dirty) writeAll(pathOf(stream.node), stream.node.contents);
        stream.dirty = false;
      },
      read(stream: Any, buffer: Uint8Array, offset: number, length: number, position: number) {
        const node = stream.node;
        node.contents ??= readAll(pathOf(node));
        const n = Math.max(0, Math.min(length, node.contents.length - position));
        buffer.set(node.contents.subarray(position, position + n), offset);
        return n;
      },
      write(stream: Any, buffer: Uint8Array, offset: number, length: number, position: number) {
        const node = stream.node;
        node.contents ??= readAll(pathOf(node));
        if (position + length > node.contents.length) {
          const grown = new Uint8Array(position + length);
          grown.set(node.contents);
          node.contents = grown;
        }
        node.contents.set(buffer.subarray(offset, offset + length), position);
        stream.dirty = true;
        return length;
      },
      llseek(stream: Any, offset: number, whence: number) {
        let position = offset;
        if (whence === 1) position += stream.position;
        else if (whence === 2 && FS.isFile(stream.node.mode)) position += stream.node.contents ? stream.node.contents.length : stat(pathOf(stream.node)).size;
        if (position < 0) fail("EINVAL");
        return position;
      },
    },
  };

  const mountAll = () => {
    for (const dir of mounts) {
      FS.mkdirTree(dir);
      FS.mount(PROXYFS, { root: dir }, dir);
    }
  };
  mountAll();
  /** Drops every cached node (`between` runs with the proxy mounts unmounted). */
  return (between?: () => void) => {
    for (const dir of mounts) FS.unmount(dir);
    between?.();
    mountAll();
  };
}
