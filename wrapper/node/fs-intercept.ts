import { EventEmitter } from "node:events";
import fs, { constants as fsc } from "node:fs";
import type { SandboxOp } from "../../protocol/ops.js";
import { readAllPlan, readdirPlan, runAsync, runSync, simplePlan, statOrNothingPlan, statPlan, toStats, VirtualFds, writeAllPlan, type OpPlan } from "./fs-bridge.js";
import { copyFilePlan, cpPlan, type Side } from "./fs-copy.js";
import { fromChannelError, nodeError } from "./node-errors.js";
import type { PathRouter, Route } from "./path-router.js";

export interface FsContext {
  router: PathRouter;
  /** Descriptors of files opened on bridge paths (created by installFsInterceptors). */
  fds?: VirtualFds;
  execAsync(op: SandboxOp): Promise<unknown>;
  execSync(op: SandboxOp): unknown;
  /** Paths the policy lets the sandbox write through the bridge (for access(W_OK)). */
  writable(path: string): boolean;
}

type Args = unknown[];

interface FsFunction {
  name: string;
  /** Indexes of the path arguments. */
  paths: number[];
  /** Does this call write (so a read-only path refuses it)? An array says it per path (a copy reads its source). */
  write: boolean | boolean[] | ((args: Args) => boolean);
  /** How to serve it on bridge paths (`sync`: the *Sync form); absent → ENOTSUP there. */
  bridge?: (paths: string[], args: Args, ctx: FsContext, sync: boolean) => OpPlan<unknown>;
  /** How to serve it when one path is the bridge's and another the sandbox's own; absent → EXDEV. */
  across?: (sides: Side[], args: Args) => OpPlan<unknown>;
  /** The callback form has no error argument (fs.exists). */
  noErrorCallback?: boolean;
}

const encodingOf = (o: unknown): BufferEncoding | undefined => (typeof o === "string" ? (o as BufferEncoding) : ((o as { encoding?: BufferEncoding } | undefined)?.encoding ?? undefined));
const flagOf = (o: unknown, dflt: string): string => (typeof o === "object" && o && "flag" in o ? String((o as { flag: unknown }).flag) : dflt);
const toBuffer = (data: unknown, enc?: BufferEncoding): Buffer =>
  typeof data === "string" ? Buffer.from(data, enc ?? "utf8") : Buffer.isBuffer(data) ? data : ArrayBuffer.isView(data) ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.from(String(data));
const decode = (b: Buffer, enc?: BufferEncoding | null) => (enc ? b.toString(enc) : b);

function* writeFilePlan(path: string, data: unknown, options: unknown, append: boolean): OpPlan<void> {
  const flag = flagOf(options, append ? "a" : "w");
  const mode = flag.includes("x") ? "create" : flag.startsWith("a") ? "append" : "overwrite";
  yield* writeAllPlan(path, toBuffer(data, encodingOf(options)), mode);
}

function* accessPlan(path: string, mode: unknown, ctx: FsContext): OpPlan<void> {
  yield* statPlan(path);
  if (typeof mode === "number" && mode & fsc.W_OK && !ctx.writable(path)) throw nodeError("EACCES", "access", path, "read-only (filesystem.readonly)");
}

const FUNCTIONS: FsFunction[] = [
  { name: "access", paths: [0], write: (a) => typeof a[1] === "number" && (a[1] & fsc.W_OK) !== 0, bridge: ([p], a, c) => accessPlan(p!, a[1], c) },
  { name: "exists", paths: [0], write: false, noErrorCallback: true, bridge: ([p]) => existsPlan(p!) },
  // Only the sync forms take {throwIfNoEntry: false}.
  { name: "stat", paths: [0], write: false, bridge: ([p], a, _c, sync) => (sync ? statOrNothingPlan(p!, true, a[1]) : statPlan(p!, true)) },
  { name: "lstat", paths: [0], write: false, bridge: ([p], a, _c, sync) => (sync ? statOrNothingPlan(p!, false, a[1]) : statPlan(p!, false)) },
  { name: "readFile", paths: [0], write: false, bridge: ([p], a) => mapPlan(readAllPlan(p!), (b) => decode(b, encodingOf(a[1]))) },
  { name: "writeFile", paths: [0], write: true, bridge: ([p], a) => writeFilePlan(p!, a[1], a[2], false) },
  { name: "appendFile", paths: [0], write: true, bridge: ([p], a) => writeFilePlan(p!, a[1], a[2], true) },
  {
    name: "readdir",
    paths: [0],
    write: false,
    bridge: ([p], a) => {
      const o = (typeof a[1] === "object" && a[1] !== null ? a[1] : {}) as { withFileTypes?: boolean; recursive?: boolean };
      return readdirPlan(p!, Boolean(o.withFileTypes), Boolean(o.recursive));
    },
  },
  { name: "mkdir", paths: [0], write: true, bridge: ([p], a) => simplePlan({ op: "fs.mkdir", path: p!, recursive: Boolean((a[1] as { recursive?: boolean } | undefined)?.recursive), fileMode: 0o755 }, () => undefined) },
  { name: "rm", paths: [0], write: true, bridge: ([p], a) => simplePlan({ op: "fs.rm", path: p!, recursive: Boolean((a[1] as { recursive?: boolean })?.recursive), force: Boolean((a[1] as { force?: boolean })?.force) }, () => undefined) },
  { name: "rmdir", paths: [0], write: true, bridge: ([p]) => simplePlan({ op: "fs.rm", path: p!, recursive: false, force: false }, () => undefined) },
  { name: "unlink", paths: [0], write: true, bridge: ([p]) => simplePlan({ op: "fs.rm", path: p!, recursive: false, force: false }, () => undefined) },
  { name: "rename", paths: [0, 1], write: true, bridge: ([from, to]) => simplePlan({ op: "fs.rename", from: from!, to: to! }, () => undefined) },
  { name: "copyFile", paths: [0, 1], write: [false, true], bridge: ([from, to], a) => copyFilePlan(bridgeSide(from!), bridgeSide(to!), a[2]), across: ([from, to], a) => copyFilePlan(from!, to!, a[2]) },
  { name: "realpath", paths: [0], write: false, bridge: ([p]) => simplePlan({ op: "fs.realpath", path: p! }, (r: { path: string }) => r.path) },
  { name: "readlink", paths: [0], write: false, bridge: ([p]) => simplePlan({ op: "fs.readlink", path: p! }, (r: { target: string }) => r.target) },
  { name: "open", paths: [0], write: (a) => isWriteFlag(a[1]), bridge: ([p], a, c) => c.fds!.openPlan(p!, a[1] as string) },
  { name: "chmod", paths: [0], write: true },
  { name: "chown", paths: [0], write: true },
  { name: "lchown", paths: [0], write: true },
  { name: "lutimes", paths: [0], write: true },
  { name: "utimes", paths: [0], write: true },
  { name: "truncate", paths: [0], write: true },
  { name: "link", paths: [0, 1], write: true },
  { name: "symlink", paths: [1], write: true },
  { name: "mkdtemp", paths: [0], write: true },
  { name: "opendir", paths: [0], write: false },
  { name: "statfs", paths: [0], write: false },
  { name: "cp", paths: [0, 1], write: [false, true], bridge: ([from, to], a) => cpPlan(bridgeSide(from!), bridgeSide(to!), a[2], [from!, to!]), across: ([from, to], a) => cpPlan(from!, to!, a[2], [from!.path, to!.path]) },
];

function* existsPlan(path: string): OpPlan<boolean> {
  try {
    yield* statPlan(path);
    return true;
  } catch {
    return false;
  }
}

const bridgeSide = (path: string): Side => ({ kind: "bridge", path });

function* mapPlan<A, B>(plan: OpPlan<A>, f: (a: A) => B): OpPlan<B> {
  return f(yield* plan);
}

function isWriteFlag(flags: unknown): boolean {
  if (typeof flags === "number") return (flags & 3) !== fsc.O_RDONLY || (flags & (fsc.O_CREAT | fsc.O_TRUNC | fsc.O_APPEND)) !== 0;
  return typeof flags === "string" && flags !== "r" && flags !== "rs" && flags !== "sr";
}

type Decision =
  | { kind: "native"; args: Args }
  | { kind: "bridge"; paths: string[] }
  | { kind: "across"; sides: Side[] }
  | { kind: "error"; error: NodeJS.ErrnoException };

function decide(spec: FsFunction, args: Args, ctx: FsContext): Decision {
  const write = typeof spec.write === "function" ? spec.write(args) : spec.write;
  const routes: (Route | null)[] = spec.paths.map((i, k) => ctx.router.route(args[i], Array.isArray(write) ? write[k]! : write));
  const denied = routes.find((r) => r?.kind === "denied");
  if (denied && denied.kind === "denied") return { kind: "error", error: nodeError(denied.code, spec.name, denied.path, denied.detail) };
  if (routes.every((r) => r === null || r.kind === "native")) {
    const out = [...args];
    spec.paths.forEach((i, k) => {
      const r = routes[k];
      if (r && r.kind === "native" && r.path !== args[i]) out[i] = r.path;
    });
    return { kind: "native", args: out };
  }
  if (routes.some((r) => r?.kind === "native")) {
    if (spec.across && routes.every((r) => r !== null)) return { kind: "across", sides: routes as Side[] };
    return { kind: "error", error: nodeError("EXDEV", spec.name, routes[0]?.path, "one path is in the sandbox and the other is served by the bridge") };
  }
  if (!spec.bridge) return { kind: "error", error: nodeError("ENOTSUP", spec.name, routes[0]!.path, `${spec.name} is not supported on bridge-served paths`) };
  return { kind: "bridge", paths: routes.map((r) => r!.path) };
}

/** The plan serving a call decide() did not leave to Node. */
function planOf(spec: FsFunction, d: Extract<Decision, { kind: "bridge" | "across" }>, args: Args, ctx: FsContext, sync: boolean): OpPlan<unknown> {
  return d.kind === "bridge" ? spec.bridge!(d.paths, args, ctx, sync) : spec.across!(d.sides, args);
}

const firstPath = (d: Extract<Decision, { kind: "bridge" | "across" }>) => (d.kind === "bridge" ? d.paths[0] : d.sides[0]?.path);

function translate(e: unknown, syscall: string, path: string | undefined): NodeJS.ErrnoException {
  return fromChannelError(e, syscall, path);
}

/** Patches fs (callback and sync forms) and fs/promises so every path argument is routed. */
export function installFsInterceptors(base: FsContext): VirtualFds {
  const fds = new VirtualFds();
  const ctx: FsContext = { ...base, fds };
  const f = fs as unknown as Record<string, (...a: unknown[]) => unknown>;
  const p = fs.promises as unknown as Record<string, (...a: unknown[]) => unknown>;

  patchWatchers(f, p, ctx);
  for (const spec of FUNCTIONS) {
    const cbOrig = f[spec.name];
    if (typeof cbOrig === "function") {
      f[spec.name] = Object.assign(function (this: unknown, ...args: unknown[]) {
        const cb = typeof args.at(-1) === "function" ? (args.pop() as (...r: unknown[]) => void) : null;
        const d = decide(spec, args, ctx);
        if (d.kind === "native") return cbOrig.apply(this, cb ? [...d.args, cb] : d.args);
        const done = (err: NodeJS.ErrnoException | null, v?: unknown) => {
          if (!cb) return;
          if (spec.noErrorCallback) cb(err ? false : v);
          else if (err) cb(err);
          else cb(null, v);
        };
        if (d.kind === "error") return void process.nextTick(done, d.error);
        runAsync(planOf(spec, d, args, ctx, false), ctx.execAsync).then(
          (v) => done(null, v),
          (e) => done(translate(e, spec.name, firstPath(d))),
        );
      }, cbOrig);
    }
    const syncOrig = f[`${spec.name}Sync`];
    if (typeof syncOrig === "function") {
      f[`${spec.name}Sync`] = function (this: unknown, ...args: unknown[]) {
        const d = decide(spec, args, ctx);
        if (d.kind === "native") return syncOrig.apply(this, d.args);
        if (d.kind === "error") {
          if (spec.noErrorCallback) return false;
          throw d.error;
        }
        try {
          return runSync(planOf(spec, d, args, ctx, true), ctx.execSync);
        } catch (e) {
          throw translate(e, spec.name, firstPath(d));
        }
      };
    }
    const promOrig = p[spec.name];
    if (typeof promOrig === "function") {
      p[spec.name] = async function (this: unknown, ...args: unknown[]) {
        if (spec.name === "open") return openPromise(spec, args, this, promOrig);
        const d = decide(spec, args, ctx);
        if (d.kind === "native") return promOrig.apply(this, d.args);
        if (d.kind === "error") throw d.error;
        try {
          return await runAsync(planOf(spec, d, args, ctx, false), ctx.execAsync);
        } catch (e) {
          throw translate(e, spec.name, firstPath(d));
        }
      };
    }
  }
  patchFdFunctions(f, fds, ctx);

  async function openPromise(spec: FsFunction, args: Args, self: unknown, orig: (...a: unknown[]) => unknown): Promise<unknown> {
    const d = decide(spec, args, ctx);
    if (d.kind === "native") return orig.apply(self, d.args);
    if (d.kind === "error") throw d.error;
    try {
      const fd = await runAsync(fds.openPlan(firstPath(d)!, args[1] as string), ctx.execAsync);
      return new VirtualFileHandle(fd, fds, ctx);
    } catch (e) {
      throw translate(e, "open", firstPath(d));
    }
  }
  return fds;
}

/**
 * fs.watch, fs.watchFile and fs.promises.watch return watchers, not results, so they are not
 * wrapped as callbacks or promises. A refused path throws at once, as Node throws ENOENT at once
 * for a missing one (fs.promises.watch throws on the first next(), as Node's own does). fs.watch
 * (inotify) cannot see a bridge path: ENOTSUP. fs.watchFile polls stat, which the bridge can do.
 */
function patchWatchers(f: Record<string, (...a: unknown[]) => unknown>, p: Record<string, (...a: unknown[]) => unknown>, ctx: FsContext): void {
  // No bridge form: decide() answers ENOTSUP for a bridge path.
  const watchSpec: FsFunction = { name: "watch", paths: [0], write: false };
  const watchFileSpec: FsFunction = { name: "watchFile", paths: [0], write: false, bridge: ([path]) => statPlan(path!) };
  const refusal = (d: Exclude<Decision, { kind: "native" }>) => (d.kind === "error" ? d.error : nodeError("ENOTSUP", "watch", firstPath(d)));

  const watchOrig = f.watch!;
  f.watch = Object.assign(function (this: unknown, ...args: unknown[]) {
    const d = decide(watchSpec, args, ctx);
    if (d.kind === "native") return watchOrig.apply(this, d.args);
    throw refusal(d);
  }, watchOrig);

  const promWatchOrig = p.watch!;
  p.watch = function (this: unknown, ...args: unknown[]) {
    const d = decide(watchSpec, args, ctx);
    if (d.kind === "native") return promWatchOrig.apply(this, d.args);
    const error = refusal(d);
    return (async function* () {
      throw error;
    })();
  };

  const polled = new Map<string, BridgeStatWatcher>();
  const watchFileOrig = f.watchFile!;
  f.watchFile = Object.assign(function (this: unknown, ...args: unknown[]) {
    const d = decide(watchFileSpec, args, ctx);
    if (d.kind === "native") return watchFileOrig.apply(this, d.args);
    if (d.kind === "error") throw d.error;
    const listener = args.find((a) => typeof a === "function") as StatListener | undefined;
    if (!listener) throw Object.assign(new TypeError('The "listener" argument must be of type function'), { code: "ERR_INVALID_ARG_TYPE" });
    const opts = (typeof args[1] === "object" && args[1] !== null ? args[1] : {}) as { interval?: number; persistent?: boolean };
    const path = firstPath(d)!;
    let w = polled.get(path);
    if (!w) {
      w = new BridgeStatWatcher(path, opts.interval ?? 5007, opts.persistent !== false, ctx);
      polled.set(path, w);
    }
    w.on("change", listener);
    return w;
  }, watchFileOrig);

  const unwatchFileOrig = f.unwatchFile!;
  f.unwatchFile = Object.assign(function (this: unknown, ...args: unknown[]) {
    const d = decide(watchFileSpec, args, ctx);
    if (d.kind === "native") return unwatchFileOrig.apply(this, d.args);
    if (d.kind === "error") return undefined;
    const path = firstPath(d)!;
    const w = polled.get(path);
    if (!w) return undefined;
    if (typeof args[1] === "function") w.off("change", args[1] as StatListener);
    else w.removeAllListeners("change");
    if (w.listenerCount("change") === 0) {
      w.stop();
      polled.delete(path);
    }
    return undefined;
  }, unwatchFileOrig);
}

type StatListener = (curr: fs.Stats, prev: fs.Stats) => void;

/** fs.watchFile on a bridge path: stat through the bridge every `interval` ms, 'change' when it differs. */
class BridgeStatWatcher extends EventEmitter {
  private readonly timer: NodeJS.Timeout;
  private prev: fs.Stats | null = null;
  private busy = false;

  constructor(
    private readonly path: string,
    interval: number,
    persistent: boolean,
    private readonly ctx: FsContext,
  ) {
    super();
    this.timer = setInterval(() => void this.poll(), Math.max(1, interval));
    if (!persistent) this.timer.unref();
    void this.poll();
  }

  private async poll(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    let cur: fs.Stats;
    try {
      cur = await runAsync(statPlan(this.path), this.ctx.execAsync);
    } catch {
      cur = zeroStats(); // Node reports a missing file with zeroed stats
    } finally {
      this.busy = false;
    }
    const prev = this.prev;
    this.prev = cur;
    if (prev && (prev.mtimeMs !== cur.mtimeMs || prev.size !== cur.size || prev.ino !== cur.ino || prev.mode !== cur.mode)) this.emit("change", cur, prev);
  }

  stop(): void {
    clearInterval(this.timer);
  }
  ref(): this {
    this.timer.ref();
    return this;
  }
  unref(): this {
    this.timer.unref();
    return this;
  }
}

function zeroStats(): fs.Stats {
  return toStats({ type: "other", size: 0, mode: 0, uid: 0, gid: 0, nlink: 0, ino: 0, dev: 0, atimeMs: 0, mtimeMs: 0, ctimeMs: 0, birthtimeMs: 0 });
}

/** read/write/close/fstat on descriptors from bridge paths; every other fd is native. */
function patchFdFunctions(f: Record<string, (...a: unknown[]) => unknown>, fds: VirtualFds, ctx: FsContext): void {
  const wrapPair = (name: string, impl: (args: Args) => OpPlan<unknown> | { value: unknown }) => {
    const cbOrig = f[name]!;
    f[name] = Object.assign(function (this: unknown, ...args: unknown[]) {
      if (!fds.isVirtual(args[0])) return cbOrig.apply(this, args);
      const cb = typeof args.at(-1) === "function" ? (args.pop() as (...r: unknown[]) => void) : () => undefined;
      let plan: OpPlan<unknown> | { value: unknown };
      try {
        plan = impl(args);
      } catch (e) {
        return void process.nextTick(cb, e);
      }
      if ("value" in plan) return void process.nextTick(cb, null, plan.value, args[1]);
      runAsync(plan, ctx.execAsync).then(
        (v) => cb(null, v, args[1]),
        (e) => cb(translate(e, name, undefined)),
      );
    }, cbOrig);
    const syncOrig = f[`${name}Sync`]!;
    f[`${name}Sync`] = function (this: unknown, ...args: unknown[]) {
      if (!fds.isVirtual(args[0])) return syncOrig.apply(this, args);
      const plan = impl(args);
      if ("value" in plan) return plan.value;
      try {
        return runSync(plan, ctx.execSync);
      } catch (e) {
        throw translate(e, name, undefined);
      }
    };
  };
  wrapPair("read", (a) => {
    const [fd, buffer, offset, length, position] = normaliseRead(a);
    return fds.readPlan(fd, buffer, offset, length, position);
  });
  wrapPair("write", (a) => {
    const fd = a[0] as number;
    if (typeof a[1] === "string") return fds.writePlan(fd, Buffer.from(a[1], (a[3] as BufferEncoding) ?? "utf8"), a[2] as number | null);
    const buf = toBuffer(a[1]);
    const offset = (a[2] as number | undefined) ?? 0;
    const length = (a[3] as number | undefined) ?? buf.length - offset;
    return fds.writePlan(fd, buf.subarray(offset, offset + length), a[4] as number | null);
  });
  wrapPair("close", (a) => {
    fds.close(a[0] as number);
    return { value: undefined };
  });
  wrapPair("fstat", (a) => statPlan(fds.get(a[0] as number, "fstat").path));
  wrapPair("fsync", () => ({ value: undefined }));
  wrapPair("fdatasync", () => ({ value: undefined }));
  // readFile/writeFile given a virtual fd go through the path the fd was opened on.
  for (const name of ["readFile", "writeFile", "appendFile"]) {
    const cbOrig = f[name]!;
    f[name] = Object.assign(function (this: unknown, ...args: unknown[]) {
      if (fds.isVirtual(args[0])) args[0] = fds.get(args[0], name).path;
      return cbOrig.apply(this, args);
    }, cbOrig);
    const syncOrig = f[`${name}Sync`]!;
    f[`${name}Sync`] = function (this: unknown, ...args: unknown[]) {
      if (fds.isVirtual(args[0])) args[0] = fds.get(args[0], name).path;
      return syncOrig.apply(this, args);
    };
  }
}

function normaliseRead(a: Args): [number, Uint8Array, number, number, number | null] {
  const fd = a[0] as number;
  if (a[1] && !ArrayBuffer.isView(a[1])) {
    const o = a[1] as { buffer?: Uint8Array; offset?: number; length?: number; position?: number | null };
    const buffer = o.buffer ?? Buffer.alloc(16384);
    return [fd, buffer, o.offset ?? 0, o.length ?? buffer.byteLength - (o.offset ?? 0), o.position ?? null];
  }
  const buffer = a[1] as Uint8Array;
  if (a[2] && typeof a[2] === "object") {
    const o = a[2] as { offset?: number; length?: number; position?: number | null };
    return [fd, buffer, o.offset ?? 0, o.length ?? buffer.byteLength - (o.offset ?? 0), o.position ?? null];
  }
  return [fd, buffer, (a[2] as number) ?? 0, (a[3] as number) ?? buffer.byteLength, (a[4] as number | null) ?? null];
}

/** What fs.promises.open returns for a bridge-served file. */
class VirtualFileHandle {
  constructor(
    readonly fd: number,
    private readonly fds: VirtualFds,
    private readonly ctx: FsContext,
  ) {}
  private run<T>(plan: OpPlan<T>, syscall: string): Promise<T> {
    return runAsync(plan, this.ctx.execAsync).catch((e) => {
      throw translate(e, syscall, this.fds.get(this.fd, syscall).path);
    });
  }
  async read(buffer?: Uint8Array | { buffer?: Uint8Array; offset?: number; length?: number; position?: number | null }, offset?: number, length?: number, position?: number | null) {
    const [, buf, off, len, pos] = normaliseRead([this.fd, buffer ?? Buffer.alloc(16384), offset, length, position]);
    const bytesRead = await this.run(this.fds.readPlan(this.fd, buf, off, len, pos), "read");
    return { bytesRead, buffer: buf };
  }
  async write(data: unknown, offsetOrPosition?: number | null, lengthOrEncoding?: number | string, position?: number | null) {
    const buf = typeof data === "string" ? Buffer.from(data, (lengthOrEncoding as BufferEncoding) ?? "utf8") : toBuffer(data);
    const slice = typeof data === "string" ? buf : buf.subarray(offsetOrPosition ?? 0, (offsetOrPosition ?? 0) + ((lengthOrEncoding as number) ?? buf.length));
    const bytesWritten = await this.run(this.fds.writePlan(this.fd, slice, typeof data === "string" ? (offsetOrPosition ?? null) : (position ?? null)), "write");
    return { bytesWritten, buffer: data };
  }
  readFile(options?: unknown) {
    return this.run(mapPlan(readAllPlan(this.fds.get(this.fd, "read").path), (b) => decode(b, encodingOf(options))), "read");
  }
  writeFile(data: unknown, options?: unknown) {
    return this.run(this.fds.writePlan(this.fd, toBuffer(data, encodingOf(options)), null), "write").then(() => undefined);
  }
  appendFile(data: unknown, options?: unknown) {
    return this.writeFile(data, options);
  }
  stat() {
    return this.run(statPlan(this.fds.get(this.fd, "fstat").path), "fstat");
  }
  async sync() {}
  async datasync() {}
  async close() {
    this.fds.close(this.fd);
  }
  async [Symbol.asyncDispose]() {
    await this.close();
  }
}
