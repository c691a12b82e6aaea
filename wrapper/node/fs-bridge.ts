import { Dirent, Stats, constants as fsc } from "node:fs";
import type { SandboxOp, StatResult } from "../../protocol/ops.js";
import { nodeError } from "./node-errors.js";

/**
 * fs operations on bridge-served paths, written once as generators that yield channel operations;
 * the same code then runs asynchronously (callbacks, promises) or synchronously (*Sync, through the
 * sync worker).
 */

/**
 * A step done here rather than over the channel (a native file on the other side of a copy), in
 * the form each runner needs: runSync calls `sync`, runAsync awaits `async`.
 */
export interface LocalStep {
  local: true;
  sync(): unknown;
  async(): Promise<unknown>;
}

export type OpPlan<T> = Generator<SandboxOp | LocalStep, T, any>;

/** A local step in a plan: yields its result, or throws its error, as a channel operation would. */
export function* localStep<T>(sync: () => T, async: () => Promise<T>): OpPlan<T> {
  return (yield { local: true, sync, async }) as T;
}

const isLocal = (step: SandboxOp | LocalStep): step is LocalStep => (step as LocalStep).local === true;

const CHUNK = 1024 * 1024;

export function* statPlan(path: string, follow = true): OpPlan<Stats> {
  return toStats((yield { op: "fs.stat", path, follow }) as StatResult);
}

/** statSync(path, {throwIfNoEntry: false}): undefined for a missing file, as Node answers. */
export function* statOrNothingPlan(path: string, follow: boolean, options: unknown): OpPlan<Stats | undefined> {
  if ((options as { throwIfNoEntry?: boolean } | undefined)?.throwIfNoEntry !== false) return yield* statPlan(path, follow);
  try {
    return yield* statPlan(path, follow);
  } catch (e) {
    if (errnoOf(e) === "ENOENT" || errnoOf(e) === "ENOTDIR") return undefined;
    throw e;
  }
}

/** The errno a failed channel operation carries (ChannelError body), or a Node error's code. */
export function errnoOf(e: unknown): string | undefined {
  const x = e as { body?: { errno?: string }; code?: unknown };
  return x?.body?.errno ?? (typeof x?.code === "string" ? x.code : undefined);
}

export function* readAllPlan(path: string): OpPlan<Buffer> {
  const chunks: Buffer[] = [];
  for (let offset = 0; ; ) {
    const r = (yield { op: "fs.read", path, offset, length: CHUNK }) as { data: string; eof: boolean };
    const b = Buffer.from(r.data, "base64");
    chunks.push(b);
    offset += b.length;
    if (r.eof || b.length === 0) return Buffer.concat(chunks);
  }
}

export function* writeAllPlan(path: string, data: Buffer, mode: "overwrite" | "append" | "create"): OpPlan<void> {
  // The first chunk sets the mode; the rest append.
  for (let offset = 0, first = true; first || offset < data.length; first = false) {
    const part = data.subarray(offset, offset + CHUNK);
    yield { op: "fs.write", path, data: part.toString("base64"), mode: first ? mode : "append", fileMode: 0o644 };
    offset += part.length;
  }
}

/**
 * readdir, and readdir {recursive: true} in Node's own order: breadth first, names relative to
 * `path`, Dirents with the directory they were found in; symlinks to directories not followed.
 */
export function* readdirPlan(path: string, withFileTypes: boolean, recursive = false): OpPlan<string[] | Dirent[]> {
  const names: string[] = [];
  const dirents: Dirent[] = [];
  const queue = [""];
  for (let i = 0; i < queue.length; i++) {
    const rel = queue[i]!;
    const dir = rel ? `${path}/${rel}` : path;
    const { entries } = (yield { op: "fs.list", path: dir }) as { entries: { name: string; type: string }[] };
    for (const e of entries) {
      const name = rel ? `${rel}/${e.name}` : e.name;
      if (withFileTypes) dirents.push(makeDirent(e.name, e.type, dir));
      else names.push(name);
      if (recursive && e.type === "dir") queue.push(name);
    }
  }
  return withFileTypes ? dirents : names;
}

export function* simplePlan<T>(op: SandboxOp, pick: (r: any) => T): OpPlan<T> {
  return pick(yield op);
}

/**
 * Runs a plan with a synchronous executor. A failed operation is thrown into the plan at its
 * `yield`, so a plan can catch it (existsSync answers false for a missing file); uncaught, it
 * comes back out of plan.throw and on to the caller.
 */
export function runSync<T>(plan: OpPlan<T>, exec: (op: SandboxOp) => unknown): T {
  let step = plan.next();
  while (!step.done) {
    let result: unknown;
    try {
      result = isLocal(step.value) ? step.value.sync() : exec(step.value);
    } catch (e) {
      step = plan.throw(e);
      continue;
    }
    step = plan.next(result);
  }
  return step.value;
}

/** Runs a plan with an asynchronous executor; failures go into the plan as in runSync. */
export async function runAsync<T>(plan: OpPlan<T>, exec: (op: SandboxOp) => Promise<unknown>): Promise<T> {
  let step = plan.next();
  while (!step.done) {
    let result: unknown;
    try {
      result = isLocal(step.value) ? await step.value.async() : await exec(step.value);
    } catch (e) {
      step = plan.throw(e);
      continue;
    }
    step = plan.next(result);
  }
  return step.value;
}

const TYPE_BITS: Record<string, number> = { file: fsc.S_IFREG, dir: fsc.S_IFDIR, symlink: fsc.S_IFLNK };

export function toStats(r: StatResult): Stats {
  const st = Object.create(Stats.prototype) as Stats & Record<string, unknown>;
  const mode = (r.mode & ~fsc.S_IFMT) | (TYPE_BITS[r.type] ?? (r.mode & fsc.S_IFMT));
  Object.assign(st, {
    dev: r.dev,
    mode,
    nlink: r.nlink,
    uid: r.uid,
    gid: r.gid,
    rdev: 0,
    blksize: 4096,
    ino: r.ino,
    size: r.size,
    blocks: Math.ceil(r.size / 512),
    atimeMs: r.atimeMs,
    mtimeMs: r.mtimeMs,
    ctimeMs: r.ctimeMs,
    birthtimeMs: r.birthtimeMs,
    atime: new Date(r.atimeMs),
    mtime: new Date(r.mtimeMs),
    ctime: new Date(r.ctimeMs),
    birthtime: new Date(r.birthtimeMs),
  });
  return st;
}

const DIRENT_TYPES: Record<string, number> = { file: 1, dir: 2, symlink: 3 };

function makeDirent(name: string, type: string, parent: string): Dirent {
  const Ctor = Dirent as unknown as new (name: string, type: number, path: string) => Dirent;
  const d = new Ctor(name, DIRENT_TYPES[type] ?? 0, parent);
  return d;
}

/** Files opened on bridge paths get descriptors from a range no kernel fd reaches. */
const VIRTUAL_FD_BASE = 0x40000000;

interface VirtualFile {
  path: string;
  position: number;
  readable: boolean;
  writable: boolean;
  append: boolean;
}

/** Descriptors of files opened on bridge-served paths. */
export class VirtualFds {
  private readonly files = new Map<number, VirtualFile>();
  private next = VIRTUAL_FD_BASE;

  isVirtual(fd: unknown): fd is number {
    return typeof fd === "number" && this.files.has(fd);
  }

  get(fd: number, syscall: string): VirtualFile {
    const f = this.files.get(fd);
    if (!f) throw nodeError("EBADF", syscall, undefined);
    return f;
  }

  /** Opening: checks or creates the file as the flags say, then hands out a descriptor. */
  *openPlan(path: string, flags: string | number | undefined): OpPlan<number> {
    const f = parseFlags(flags);
    if (f.exclusive) yield { op: "fs.write", path, data: "", mode: "create", fileMode: 0o644 };
    else if (f.truncate) yield { op: "fs.write", path, data: "", mode: "overwrite", fileMode: 0o644 };
    else if (f.create) yield { op: "fs.write", path, data: "", mode: "append", fileMode: 0o644 };
    else {
      const st = (yield { op: "fs.stat", path, follow: true }) as StatResult;
      if (st.type === "dir" && f.writable) throw nodeError("EISDIR", "open", path);
    }
    const fd = this.next++;
    this.files.set(fd, { path, position: 0, readable: f.readable, writable: f.writable, append: f.append });
    return fd;
  }

  *readPlan(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | bigint | null | undefined): OpPlan<number> {
    const file = this.get(fd, "read");
    if (!file.readable) throw nodeError("EBADF", "read", undefined);
    const at = position === null || position === undefined || Number(position) < 0 ? file.position : Number(position);
    const r = (yield { op: "fs.read", path: file.path, offset: at, length: Math.min(length, CHUNK * 4) }) as { data: string };
    const data = Buffer.from(r.data, "base64");
    data.copy(buffer, offset);
    if (position === null || position === undefined || Number(position) < 0) file.position += data.length;
    return data.length;
  }

  *writePlan(fd: number, data: Buffer, position: number | null | undefined): OpPlan<number> {
    const file = this.get(fd, "write");
    if (!file.writable) throw nodeError("EBADF", "write", undefined);
    if (typeof position === "number" && position !== file.position && !file.append) {
      throw nodeError("ENOTSUP", "write", file.path, "positional writes are not supported on bridge-served files; write sequentially");
    }
    yield* writeAllPlan(file.path, data, "append");
    file.position += data.length;
    return data.length;
  }

  close(fd: number): void {
    this.get(fd, "close");
    this.files.delete(fd);
  }
}

function parseFlags(flags: string | number | undefined): { readable: boolean; writable: boolean; append: boolean; truncate: boolean; create: boolean; exclusive: boolean } {
  if (typeof flags === "number") {
    const acc = flags & 3;
    return {
      readable: acc === fsc.O_RDONLY || acc === fsc.O_RDWR,
      writable: acc === fsc.O_WRONLY || acc === fsc.O_RDWR,
      append: (flags & fsc.O_APPEND) !== 0,
      truncate: (flags & fsc.O_TRUNC) !== 0,
      create: (flags & fsc.O_CREAT) !== 0,
      exclusive: (flags & fsc.O_EXCL) !== 0,
    };
  }
  const f = flags ?? "r";
  return {
    readable: f.startsWith("r") || f.includes("+"),
    writable: !f.startsWith("r") || f.includes("+"),
    append: f.startsWith("a"),
    truncate: f.startsWith("w"),
    create: f.startsWith("w") || f.startsWith("a"),
    exclusive: f.includes("x"),
  };
}
