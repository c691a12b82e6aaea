import { posix } from "node:path";
import { FileOperations } from "../../bridge/fs-ops.js";
import { describeOpTarget } from "../../bridge/operations.js";
import { PathGuard } from "../../bridge/path-guard.js";
import { McpwError, parseOrThrow } from "../../protocol/errors.js";
import { Op, type OpInput, type OpName, type OpResult, type Origin } from "../../protocol/ops.js";
import type { Policy } from "../../protocol/policy.js";
import type { AuditInput } from "../../server/audit-log.js";
import { governingRule } from "../path-rules.js";

/**
 * The file system a snippet sees. Nothing of the host exists in it except:
 *
 * - `/mount`: the workspace directory, read-write, served here with the bridge's own path guard
 *   (symlinks and `..` cannot leave it);
 * - the policy's `filesystem.readonly` and `filesystem.writable` paths, at the same paths, served by
 *   the active bridge (as they are for sandboxed MCP servers); writes under a readonly path are
 *   refused here with EROFS before anything is sent.
 *
 * Every other path is ENOENT. Paths are virtual and absolute after `cwd` is applied; host paths
 * never appear in results or error messages.
 *
 * A workspace may be made on first write (`Workspace.create`): until then /mount is an empty
 * directory, so a snippet that never writes costs no directory on the host.
 */

export interface Workspace {
  /** The host directory, or null while it does not exist yet. */
  existing(): string | null;
  /** Makes it (if needed) and returns it. */
  create(): string;
}

export function fixedWorkspace(dir: string): Workspace {
  return { existing: () => dir, create: () => dir };
}

export type FsOpName = Extract<OpName, `fs.${string}`>;
export type FsOpInput = Extract<OpInput, { op: FsOpName }>;
export type CallOp = (origin: Origin, op: Op, opts?: { network?: Policy["network"] }) => Promise<unknown>;

const WRITES = new Set<OpName>(["fs.write", "fs.mkdir", "fs.rm", "fs.rename"]);
/** Every file operation, and nothing else: a snippet can write any op text into the channel. */
const FS_OPS: Record<FsOpName, true> = {
  "fs.stat": true,
  "fs.read": true,
  "fs.write": true,
  "fs.list": true,
  "fs.mkdir": true,
  "fs.rm": true,
  "fs.rename": true,
  "fs.readlink": true,
  "fs.realpath": true,
};
export const MOUNT = "/mount";

function within(path: string, root: string): boolean {
  return path === root || path.startsWith(root === "/" ? "/" : `${root}/`);
}

export class VirtualFs {
  private local: { ops: FileOperations; root: string } | null = null;
  private readonly readonly: string[];
  private readonly writable: string[];

  constructor(
    private readonly workspace: Workspace,
    filesystem: Policy["filesystem"],
    private readonly callOp: CallOp,
    private readonly origin: Origin,
    /** Where the refusals made here are audited (the bridge audits what reaches it). */
    private readonly audit: (entry: AuditInput) => void = () => undefined,
  ) {
    this.readonly = filesystem.readonly.map((p) => posix.normalize(p));
    this.writable = filesystem.writable.map((p) => posix.normalize(p));
  }

  /** Runs one fs operation on virtual paths; rejects with a McpwError (errno set for io errors). */
  async call(input: FsOpInput, cwd = MOUNT): Promise<OpResult<FsOpName>> {
    const name = (input as { op?: unknown } | null)?.op;
    const refuse = (err: McpwError, op?: Op) => {
      const target = op ? { target: describeOpTarget(op) } : {};
      this.audit({ event: "op", verdict: "deny", op: String(name).slice(0, 64), origin: this.origin, ...target, error: err.message, by: "snippet policy" });
      return err;
    };
    if (typeof name !== "string" || !Object.hasOwn(FS_OPS, name)) {
      throw refuse(new McpwError("bad_params", `${JSON.stringify(name ?? null).slice(0, 60)} is not a file operation (the snippet file system takes ${Object.keys(FS_OPS).join(", ")})`, { errno: "EINVAL" }));
    }
    const absolute = (p: unknown) => (typeof p === "string" && p.length > 0 ? posix.resolve(cwd, p) : p);
    const raw = { ...input } as Record<string, unknown>;
    for (const key of ["path", "from", "to"]) if (key in raw) raw[key] = absolute(raw[key]);
    let op: Extract<Op, { op: FsOpName }>;
    try {
      op = parseOrThrow(Op, raw, "bad_params", "fs") as Extract<Op, { op: FsOpName }>;
    } catch (err) {
      throw refuse(err as McpwError);
    }
    const paths = op.op === "fs.rename" ? [op.from, op.to] : [op.path];
    const places = paths.map((p) => this.place(p));
    if (places.every((p) => p.kind === "mount")) return this.onWorkspace(op);
    const first = places[0]!;
    if (places.some((p) => p.kind !== first.kind || p.kind === "none")) {
      const missing = places.find((p) => p.kind === "none") ?? places[1]!;
      if (missing.kind !== "none" && op.op === "fs.rename") throw new McpwError("io_error", `rename across file systems: ${op.from} -> ${op.to}`, { errno: "EXDEV" });
      if (op.op === "fs.stat" && missing.path === "/") return rootStat();
      if (op.op === "fs.list" && missing.path === "/") return { entries: this.rootEntries() };
      // Nothing of the host but /mount and the policy's paths exists: asking for more is refused.
      throw refuse(new McpwError("io_error", `${missing.path}: no such file or directory`, { errno: "ENOENT" }), op);
    }
    if (WRITES.has(op.op) && places.some((p) => p.kind === "readonly")) {
      throw refuse(new McpwError("io_error", `${paths.join(" -> ")}: read-only file system (filesystem.readonly)`, { errno: "EROFS" }), op);
    }
    try {
      return (await this.callOp(this.origin, op)) as OpResult<FsOpName>;
    } catch (err) {
      throw withoutHostPaths(err);
    }
  }

  /** Whether a (normalised, absolute) path is served at all: /mount or a policy path. */
  serves(path: string): boolean {
    return this.place(path).kind !== "none";
  }

  private place(path: string): { kind: "mount" | "readonly" | "writable" | "none"; path: string } {
    if (within(path, MOUNT)) return { kind: "mount", path };
    // The deepest listed root decides (wrapper/path-rules.ts).
    const rule = governingRule(path, this.readonly, this.writable);
    return { kind: rule?.kind ?? "none", path };
  }

  private rootEntries(): { name: string; type: "dir" }[] {
    const names = new Set(["mount", ...[...this.readonly, ...this.writable].map((p) => p.split("/")[1]!).filter(Boolean)]);
    return [...names].sort().map((name) => ({ name, type: "dir" as const }));
  }

  private async onWorkspace(op: Extract<Op, { op: FsOpName }>): Promise<OpResult<FsOpName>> {
    if (!this.local) {
      const existing = this.workspace.existing();
      if (existing === null && !WRITES.has(op.op)) return notYetCreated(op);
      const root = existing ?? this.workspace.create();
      this.local = { ops: new FileOperations(new PathGuard({ readonly: [], readwrite: [root] })), root };
    }
    const { ops, root } = this.local;
    const toHost = (path: string) => root + path.slice(MOUNT.length);
    const mapped = op.op === "fs.rename" ? { ...op, from: toHost(op.from), to: toHost(op.to) } : { ...op, path: toHost(op.path) };
    try {
      const result = await dispatch(ops, mapped as typeof op);
      if (op.op === "fs.realpath") {
        const real = (result as { path: string }).path;
        return { path: within(real, root) ? MOUNT + real.slice(root.length) : real };
      }
      if (op.op === "fs.readlink") {
        const target = (result as { target: string }).target;
        return { target: within(target, root) ? MOUNT + target.slice(root.length) : target };
      }
      return result;
    } catch (err) {
      if (err instanceof McpwError) throw withoutHostPaths(new McpwError(err.code, err.message.split(root).join(MOUNT), err.toBody()));
      throw err;
    }
  }
}

/**
 * A refusal as the snippet sees it: where a symlink leads is a host path (the bridge's message
 * names it for the administrator's audit log), so it is left out.
 */
function withoutHostPaths(err: unknown): unknown {
  if (!(err instanceof McpwError) || !/it leads to /.test(err.message)) return err;
  const message = err.message.replace(/it leads to .*, which is not under /s, "it leads to a place that is not under ");
  return new McpwError(err.code, message, err.toBody());
}

/** /mount before its directory exists: an empty directory. */
function notYetCreated(op: Extract<Op, { op: FsOpName }>): OpResult<FsOpName> {
  const path = op.op === "fs.rename" ? op.from : op.path;
  if (path === MOUNT) {
    if (op.op === "fs.stat") return { ...rootStat(), mode: 0o40755 };
    if (op.op === "fs.list") return { entries: [] };
    if (op.op === "fs.realpath") return { path: MOUNT };
  }
  throw new McpwError("io_error", `${path}: no such file or directory`, { errno: "ENOENT" });
}

function dispatch(ops: FileOperations, op: Extract<Op, { op: FsOpName }>): Promise<OpResult<FsOpName>> {
  switch (op.op) {
    case "fs.stat":
      return ops.stat(op);
    case "fs.read":
      return ops.read(op);
    case "fs.write":
      return ops.write(op);
    case "fs.list":
      return ops.list(op);
    case "fs.mkdir":
      return ops.mkdir(op);
    case "fs.rm":
      return ops.rm(op);
    case "fs.rename":
      return ops.rename(op);
    case "fs.readlink":
      return ops.readlink(op);
    case "fs.realpath":
      return ops.realpath(op);
  }
}

function rootStat(): OpResult<"fs.stat"> {
  return { type: "dir", size: 0, mode: 0o40555, uid: 0, gid: 0, nlink: 1, ino: 1, dev: 0, atimeMs: 0, mtimeMs: 0, ctimeMs: 0, birthtimeMs: 0 };
}
