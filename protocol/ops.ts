import { z } from "zod";
import { AbsolutePath, CommandName, NetworkPolicy } from "./policy.js";

/**
 * Privileged operations: what a sandbox (or an admin, for diagnostics) asks the active bridge to do.
 * The same schema is checked at every hop: sandbox channel → supervisor → server → bridge.
 */

/** Largest payload of one fs.read / fs.write; bigger files are moved in chunks. */
export const MAX_IO_CHUNK = 4 * 1024 * 1024;

const Base64 = z.base64().max(Math.ceil(MAX_IO_CHUNK / 3) * 4 + 4);
const Port = z.number().int().min(1).max(65535);
/** Stream ids are chosen by the side that opens the stream. */
export const StreamId = z.number().int().min(1).max(0xffffffff);

/**
 * Permission bits of a file or directory the bridge creates. Never setuid, setgid or sticky: a bridge
 * running as root would otherwise make a setuid-root program with contents the sandbox chose.
 */
export const FileMode = z
  .number()
  .int()
  .min(0)
  .max(0o777, "only permission bits 0..0o777 (0..511) are allowed; setuid, setgid and sticky bits are refused");

export const FsStatOp = z.object({ op: z.literal("fs.stat"), path: AbsolutePath, follow: z.boolean().default(true) }).strict();
export const FsReadOp = z
  .object({
    op: z.literal("fs.read"),
    path: AbsolutePath,
    offset: z.number().int().min(0).default(0),
    length: z.number().int().min(0).max(MAX_IO_CHUNK).default(MAX_IO_CHUNK),
  })
  .strict();
export const FsWriteOp = z
  .object({
    op: z.literal("fs.write"),
    path: AbsolutePath,
    data: Base64,
    /** overwrite: truncate then write; append: add at the end; create: fail if it exists. */
    mode: z.enum(["overwrite", "append", "create"]).default("overwrite"),
    fileMode: FileMode.default(0o644),
  })
  .strict();
export const FsListOp = z.object({ op: z.literal("fs.list"), path: AbsolutePath }).strict();
export const FsMkdirOp = z
  .object({ op: z.literal("fs.mkdir"), path: AbsolutePath, recursive: z.boolean().default(false), fileMode: FileMode.default(0o755) })
  .strict();
export const FsRmOp = z
  .object({ op: z.literal("fs.rm"), path: AbsolutePath, recursive: z.boolean().default(false), force: z.boolean().default(false) })
  .strict();
export const FsRenameOp = z.object({ op: z.literal("fs.rename"), from: AbsolutePath, to: AbsolutePath }).strict();
export const FsReadlinkOp = z.object({ op: z.literal("fs.readlink"), path: AbsolutePath }).strict();
export const FsRealpathOp = z.object({ op: z.literal("fs.realpath"), path: AbsolutePath }).strict();

export const NetConnectOp = z
  .object({
    op: z.literal("net.connect"),
    host: z.string().min(1).max(255),
    port: Port,
    /** Id of the byte stream that carries the connection once it is open. */
    stream: StreamId,
  })
  .strict();
export const NetResolveOp = z
  .object({ op: z.literal("net.resolve"), host: z.string().min(1).max(255), family: z.union([z.literal(0), z.literal(4), z.literal(6)]).default(0) })
  .strict();

export const HttpRequestOp = z
  .object({
    op: z.literal("http.request"),
    url: z.string().min(1).max(8192),
    method: z.string().regex(/^[A-Z]{1,16}$/, "expected an upper-case HTTP method").default("GET"),
    headers: z.record(z.string(), z.string()).default({}),
    body: Base64.optional(),
    /** Narrow (never widen) the network policy's limits for this request. */
    maxBodyBytes: z.number().int().positive().optional(),
    maxRedirects: z.number().int().min(0).optional(),
    timeoutMs: z.number().int().positive().max(600_000).default(30_000),
  })
  .strict();

export const ExecOp = z
  .object({
    op: z.literal("exec"),
    command: CommandName,
    args: z.array(z.string().max(128 * 1024).refine((a) => !a.includes("\0"), "argument contains a NUL byte")).max(4096).default([]),
    cwd: AbsolutePath.optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
    stdin: Base64.optional(),
    timeoutMs: z.number().int().positive().optional(),
  })
  .strict();

/** What a sandbox may ask its supervisor for directly; TCP goes through tunnel.open instead. */
const SANDBOX_OPS = [FsStatOp, FsReadOp, FsWriteOp, FsListOp, FsMkdirOp, FsRmOp, FsRenameOp, FsReadlinkOp, FsRealpathOp, NetResolveOp, HttpRequestOp, ExecOp] as const;

export const Op = z.discriminatedUnion("op", [...SANDBOX_OPS, NetConnectOp]);
export type Op = z.infer<typeof Op>;

export const SandboxOp = z.discriminatedUnion("op", SANDBOX_OPS);
export type SandboxOp = z.infer<typeof SandboxOp>;
export type OpInput = z.input<typeof Op>;
export type OpName = Op["op"];

export const FileType = z.enum(["file", "dir", "symlink", "other"]);
export const StatResult = z
  .object({
    type: FileType,
    size: z.number(),
    mode: z.number(),
    uid: z.number(),
    gid: z.number(),
    nlink: z.number(),
    ino: z.number(),
    dev: z.number(),
    atimeMs: z.number(),
    mtimeMs: z.number(),
    ctimeMs: z.number(),
    birthtimeMs: z.number(),
  })
  .strict();
export type StatResult = z.infer<typeof StatResult>;

export const OpResults = {
  "fs.stat": StatResult,
  "fs.read": z.object({ data: z.base64(), eof: z.boolean(), size: z.number() }).strict(),
  "fs.write": z.object({ written: z.number() }).strict(),
  "fs.list": z.object({ entries: z.array(z.object({ name: z.string(), type: FileType }).strict()) }).strict(),
  "fs.mkdir": z.object({ created: z.boolean() }).strict(),
  "fs.rm": z.object({ removed: z.boolean() }).strict(),
  "fs.rename": z.object({ renamed: z.boolean() }).strict(),
  "fs.readlink": z.object({ target: z.string() }).strict(),
  "fs.realpath": z.object({ path: z.string() }).strict(),
  "net.connect": z.object({ stream: StreamId, remoteAddress: z.string(), remotePort: z.number() }).strict(),
  "net.resolve": z.object({ addresses: z.array(z.object({ address: z.string(), family: z.number() }).strict()) }).strict(),
  "http.request": z
    .object({
      status: z.number(),
      statusText: z.string(),
      headers: z.record(z.string(), z.string()),
      body: z.base64(),
      url: z.string(),
      redirects: z.number(),
    })
    .strict(),
  exec: z
    .object({
      exitCode: z.number().nullable(),
      signal: z.string().nullable(),
      stdout: z.base64(),
      stderr: z.base64(),
      truncated: z.boolean(),
      timedOut: z.boolean(),
    })
    .strict(),
} satisfies Record<OpName, z.ZodType>;
export type OpResult<N extends OpName> = z.infer<(typeof OpResults)[N]>;

/** Who asked for an operation; recorded in every audit line. */
export const Origin = z
  .object({
    kind: z.enum(["sandbox", "client"]),
    id: z.string().max(128),
  })
  .strict();
export type Origin = z.infer<typeof Origin>;

/** What the server sends a bridge: the operation, who asked, and the asker's own network policy. */
export const BridgeOpRequest = z
  .object({
    origin: Origin,
    /** The requester's network policy: the bridge enforces it as well as its own (the stricter wins). */
    restrict: z.object({ network: NetworkPolicy.optional() }).strict().default({}),
    op: Op,
  })
  .strict();
export type BridgeOpRequest = z.infer<typeof BridgeOpRequest>;
export type BridgeOpRequestInput = z.input<typeof BridgeOpRequest>;
