/**
 * What sandbox-init is told to do: one zod schema, passed as JSON.
 *
 * Delivery (checked in this order):
 *  - `MCPW_INIT_SPEC_FD=<n>`: sandbox-init reads the JSON from inherited fd n to its end, then
 *    closes it (nothing lingers in /proc/<pid>/environ; no size limit);
 *  - `MCPW_INIT_SPEC=<json>`: simplest; at most 128 KiB (the kernel's limit for one env string).
 * Neither variable reaches the target: its environment is exactly `env` below.
 */
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { AbsolutePath } from "../protocol/policy.js";

export const SPEC_ENV = "MCPW_INIT_SPEC";
export const SPEC_FD_ENV = "MCPW_INIT_SPEC_FD";

const Mb = z.number().int().positive().max(1024 * 1024);

export const InitRlimits = z
  .object({
    /** Memory limit in MiB, carried by RLIMIT_DATA (default) or RLIMIT_AS: see native/rlimits.ts. */
    memMb: Mb.optional(),
    memoryKind: z.enum(["data", "as"]).default("data"),
    /** RLIMIT_NPROC: tasks (threads included) of the sandbox's uid; Node needs about 8 to start. */
    maxProcs: z.number().int().min(1).max(1_000_000).optional(),
    /** RLIMIT_FSIZE in MiB: writes past it get EFBIG (or SIGXFSZ if the program does not ignore it). */
    maxFileMb: Mb.optional(),
    /** RLIMIT_NOFILE. */
    openFiles: z.number().int().min(8).max(1_048_576).optional(),
    /** RLIMIT_CPU in seconds (SIGXCPU, then SIGKILL a second later). */
    cpuSeconds: z.number().int().positive().max(1_000_000).optional(),
  })
  .strict();

const Port = z.number().int().min(0).max(65535);

export const InitLandlock = z
  .object({
    /**
     * "strict": refuse to start without landlock; "best-effort": start and say it is missing.
     * Landlock is strict when either this or the spec's `isolation` says so.
     */
    mode: z.enum(["strict", "best-effort"]).default("best-effort"),
    readExec: z.array(AbsolutePath).default([]),
    readOnly: z.array(AbsolutePath).default([]),
    readWrite: z.array(AbsolutePath).default([]),
    /** Trees whose directories may be listed but whose files may not be read. */
    listOnly: z.array(AbsolutePath).default([]),
    /** TCP ports the sandbox may bind / connect to (landlock ABI >= 4). Absent: TCP not restricted. */
    tcp: z.object({ bind: z.array(Port).default([]), connect: z.array(Port).default([]) }).strict().optional(),
    scopeAbstractUnix: z.boolean().default(true),
    scopeSignals: z.boolean().default(true),
  })
  .strict();

export const SandboxInitSpec = z
  .object({
    v: z.literal(1),
    /** Target argv (argv[0] is looked up in env.PATH when it has no slash). Or give it after `--`. */
    argv: z.array(z.string().refine((s) => !s.includes("\0"), "contains a NUL byte")).min(1).optional(),
    /** The target's whole environment. Nothing else is passed on. */
    env: z.record(z.string().regex(/^[^=\0]+$/, "names have no '=' or NUL"), z.string().refine((s) => !s.includes("\0"), "contains a NUL byte")).default({}),
    /** Working directory for the target (before any layer is applied). */
    cwd: AbsolutePath.optional(),
    /** Inherited fds (besides 0, 1, 2) the target keeps: close-on-exec is cleared on them. */
    keepFds: z.array(z.number().int().min(3).max(65535)).default([]),
    rlimits: InitRlimits.default({ memoryKind: "data" }),
    /** null: no landlock (reported as a note). */
    landlock: InitLandlock.nullable().default(null),
    seccomp: z.boolean().default(true),
    /** "strict": any layer that cannot be applied stops the start; "best-effort": noted and skipped. */
    isolation: z.enum(["strict", "best-effort"]).default("strict"),
    /**
     * Trusted helper processes (e.g. the in-sandbox proxy), started after no_new_privs, landlock and
     * seccomp (so they run under them) and before rlimits; each must print "ready" on stdout.
     */
    helpers: z
      .array(
        z
          .object({
            argv: z.array(z.string().min(1)).min(1),
            env: z.record(z.string(), z.string()).default({}),
            readyTimeoutMs: z.number().int().positive().max(60_000).default(10_000),
          })
          .strict(),
      )
      .default([]),
    /** Write a one-line JSON report of what was enforced to this inherited fd, then close it. */
    reportFd: z.number().int().min(3).max(65535).optional(),
    /** Also print every applied step to stderr (notes about skipped layers are always printed). */
    verbose: z.boolean().default(false),
  })
  .strict();

export type SandboxInitSpec = z.infer<typeof SandboxInitSpec>;
export type SandboxInitSpecInput = z.input<typeof SandboxInitSpec>;

/** Parses `json` against the schema; the error names the first bad field. */
export function parseInitSpec(json: string): { spec: SandboxInitSpec } | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    return { error: `not valid JSON: ${(e as Error).message}` };
  }
  const parsed = SandboxInitSpec.safeParse(raw);
  if (parsed.success) return { spec: parsed.data };
  const issue = parsed.error.issues[0]!;
  return { error: `${issue.path.join(".") || "(root)"}: ${issue.message}` };
}

/** The environment to start sandbox-init with, for a launcher that passes the spec inline. */
export function specEnv(spec: SandboxInitSpecInput): Record<string, string> {
  return { [SPEC_ENV]: JSON.stringify(SandboxInitSpec.parse(spec)) };
}

/** The compiled sandbox-init script, next to this module (dist/native/sandbox-init.js). */
export const SANDBOX_INIT_SCRIPT = fileURLToPath(new URL("./sandbox-init.js", import.meta.url));

/**
 * The argv that starts sandbox-init for `target` (put it after bwrap's `--`). Inside the sandbox,
 * `node`, this script and its node_modules (zod, koffi) must be readable; give sandbox-init itself
 * no NODE_OPTIONS (the target's belong in spec.env).
 */
export function sandboxInitArgv(target: readonly string[], node: string = process.execPath): string[] {
  return [node, SANDBOX_INIT_SCRIPT, "--", ...target];
}
