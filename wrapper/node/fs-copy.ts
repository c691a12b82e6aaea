import fs, { constants as fsc, type Stats } from "node:fs";
import { posix } from "node:path";
import { errnoOf, localStep, readAllPlan, statPlan, writeAllPlan, type OpPlan } from "./fs-bridge.js";
import { nodeError } from "./node-errors.js";
import type { Route } from "./path-router.js";

/**
 * copyFile and cp where a bridge path is involved: from a bridge path to /mount, from /mount to a
 * --rw path, or between two bridge paths. The kernel cannot copy across that boundary (the bridge's
 * files are not in the sandbox), so the interceptor reads one side and writes the other, each
 * where it lives: over the channel, or natively (a local step, with the fs functions as they were
 * before the interceptors patched them).
 */

/** Where one side of a copy lives: the bridge, or the sandbox's own files. */
export type Side = Extract<Route, { kind: "native" | "bridge" }>;

const native = {
  readFileSync: fs.readFileSync,
  writeFileSync: fs.writeFileSync,
  statSync: fs.statSync,
  readdirSync: fs.readdirSync,
  mkdirSync: fs.mkdirSync,
  readFile: fs.promises.readFile,
  writeFile: fs.promises.writeFile,
  stat: fs.promises.stat,
  readdir: fs.promises.readdir,
  mkdir: fs.promises.mkdir,
};

function* readSide(s: Side): OpPlan<Buffer> {
  if (s.kind === "bridge") return yield* readAllPlan(s.path);
  return yield* localStep(
    () => native.readFileSync(s.path),
    () => native.readFile(s.path),
  );
}

function* writeSide(s: Side, data: Buffer, exclusive: boolean): OpPlan<void> {
  if (s.kind === "bridge") return yield* writeAllPlan(s.path, data, exclusive ? "create" : "overwrite");
  const flag = exclusive ? "wx" : "w";
  yield* localStep(
    () => native.writeFileSync(s.path, data, { flag }),
    () => native.writeFile(s.path, data, { flag }),
  );
}

/** Stats of a side (symlinks followed), or null when it does not exist. */
function* statSide(s: Side): OpPlan<Stats | null> {
  try {
    if (s.kind === "bridge") return yield* statPlan(s.path);
    return yield* localStep(
      () => native.statSync(s.path),
      () => native.stat(s.path),
    );
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return null;
    throw e;
  }
}

function* listSide(s: Side): OpPlan<string[]> {
  if (s.kind === "bridge") {
    const { entries } = (yield { op: "fs.list", path: s.path }) as { entries: { name: string }[] };
    return entries.map((e) => e.name);
  }
  return yield* localStep(
    () => native.readdirSync(s.path),
    () => native.readdir(s.path),
  );
}

function* mkdirSide(s: Side): OpPlan<void> {
  if (s.kind === "bridge") {
    yield { op: "fs.mkdir", path: s.path, recursive: true, fileMode: 0o755 };
    return;
  }
  yield* localStep(
    () => void native.mkdirSync(s.path, { recursive: true }),
    async () => void (await native.mkdir(s.path, { recursive: true })),
  );
}

const child = (s: Side, name: string): Side => ({ kind: s.kind, path: posix.join(s.path, name) });

/** fs.copyFile(src, dest, mode): COPYFILE_EXCL makes an existing dest an error (EEXIST). */
export function* copyFilePlan(from: Side, to: Side, mode: unknown): OpPlan<void> {
  const exclusive = typeof mode === "number" && (mode & fsc.COPYFILE_EXCL) !== 0;
  yield* writeSide(to, yield* readSide(from), exclusive);
}

interface CpOptions {
  recursive?: boolean;
  force?: boolean;
  errorOnExist?: boolean;
  mode?: number;
  filter?: (src: string, dest: string) => boolean | Promise<boolean>;
  preserveTimestamps?: boolean;
}

/**
 * fs.cp(src, dest, options): files and directories (recursive), `force`, `errorOnExist`, `mode`
 * (COPYFILE_EXCL) and `filter`. Symlinks are copied as what they point to; timestamps are not
 * preserved (preserveTimestamps: ENOTSUP).
 */
export function* cpPlan(from: Side, to: Side, options: unknown, requested: string[]): OpPlan<void> {
  const o = (typeof options === "object" && options !== null ? options : {}) as CpOptions;
  if (o.preserveTimestamps) throw nodeError("ENOTSUP", "cp", requested[0], "preserveTimestamps is not supported where a bridge-served path is involved");
  const [src, dest] = requested as [string, string];
  if (dest === src || dest.startsWith(`${src}/`)) throw nodeError("EINVAL", "cp", dest, `cannot copy ${src} to a subdirectory of itself`);
  const exclusive = typeof o.mode === "number" && (o.mode & fsc.COPYFILE_EXCL) !== 0;
  const overwrite = o.force !== false && !exclusive;
  const top = yield* statSide(from);
  if (!top) throw nodeError("ENOENT", "cp", src);
  if (top.isDirectory() && !o.recursive) throw nodeError("EISDIR", "cp", src, "copying a directory needs { recursive: true }");

  function* copy(s: Side, d: Side, st: Stats, srcPath: string, destPath: string): OpPlan<void> {
    if (o.filter) {
      const filter = o.filter;
      const keep = yield* localStep(
        () => filter(srcPath, destPath),
        async () => filter(srcPath, destPath),
      );
      if (!keep) return;
    }
    if (st.isDirectory()) {
      yield* mkdirSide(d);
      for (const name of yield* listSide(s)) {
        const cs = child(s, name);
        const cst = yield* statSide(cs);
        if (cst) yield* copy(cs, child(d, name), cst, posix.join(srcPath, name), posix.join(destPath, name));
      }
      return;
    }
    const existing = yield* statSide(d);
    if (existing && !overwrite) {
      if (o.errorOnExist || exclusive) throw nodeError("EEXIST", "cp", destPath);
      return;
    }
    yield* writeSide(d, yield* readSide(s), false);
  }
  yield* copy(from, to, top, src, dest);
}
