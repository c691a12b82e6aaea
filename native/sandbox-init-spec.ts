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
// zod/mini, not classic zod: sandbox-init is bundled on its own and starts in every sandbox; the
// classic API made its bundle 800 KB (~45 ms to load), this one about 60 KB.
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";

// zod/mini ships no messages; English ones name what is wrong ("expected number, received string").
z.config(en());

export const SPEC_ENV = "MCPW_INIT_SPEC";
export const SPEC_FD_ENV = "MCPW_INIT_SPEC_FD";

const noNul = (s: string) => !s.includes("\0");
const AbsolutePath = z.string().check(
  z.minLength(1),
  z.maxLength(4096),
  z.refine(noNul, "path contains a NUL byte"),
  z.refine((p) => p.startsWith("/"), "path must be absolute"),
);
const int = (min: number, max: number) => z.number().check(z.int(), z.gte(min), z.lte(max));
const Mb = int(1, 1024 * 1024);

export const InitRlimits = z.strictObject({
  /** Memory limit in MiB, carried by RLIMIT_DATA (default) or RLIMIT_AS: see native/rlimits.ts. */
  memMb: z.optional(Mb),
  memoryKind: z._default(z.enum(["data", "as"]), "data"),
  /** RLIMIT_NPROC: tasks (threads included) of the sandbox's uid; Node needs about 8 to start. */
  maxProcs: z.optional(int(1, 1_000_000)),
  /** RLIMIT_FSIZE in MiB: writes past it get EFBIG (or SIGXFSZ if the program does not ignore it). */
  maxFileMb: z.optional(Mb),
  /** RLIMIT_NOFILE. */
  openFiles: z.optional(int(8, 1_048_576)),
  /** RLIMIT_CPU in seconds (SIGXCPU, then SIGKILL a second later). */
  cpuSeconds: z.optional(int(1, 1_000_000)),
});

const Port = int(0, 65535);
const paths = () => z._default(z.array(AbsolutePath), []);

export const InitLandlock = z.strictObject({
  /**
   * "strict": refuse to start without landlock; "best-effort": start and say it is missing.
   * Landlock is strict when either this or the spec's `isolation` says so.
   */
  mode: z._default(z.enum(["strict", "best-effort"]), "best-effort"),
  readExec: paths(),
  /** When given, the only files (or trees) execve may run; readExec trees are then read-only. */
  executeOnly: z.optional(z.array(AbsolutePath)),
  readOnly: paths(),
  readWrite: paths(),
  /** Trees whose directories may be listed but whose files may not be read. */
  listOnly: paths(),
  /** TCP ports the sandbox may bind / connect to (landlock ABI >= 4). Absent: TCP not restricted. */
  tcp: z.optional(z.strictObject({ bind: z._default(z.array(Port), []), connect: z._default(z.array(Port), []) })),
  scopeAbstractUnix: z._default(z.boolean(), true),
  scopeSignals: z._default(z.boolean(), true),
});

const EnvValue = z.string().check(z.refine(noNul, "contains a NUL byte"));

export const SandboxInitSpec = z.strictObject({
  v: z.literal(1),
  /** Target argv (argv[0] is looked up in env.PATH when it has no slash). Or give it after `--`. */
  argv: z.optional(z.array(EnvValue).check(z.minLength(1))),
  /** The target's whole environment. Nothing else is passed on. */
  env: z._default(z.record(z.string().check(z.regex(/^[^=\0]+$/, "names have no '=' or NUL")), EnvValue), {}),
  /** Working directory for the target (before any layer is applied). */
  cwd: z.optional(AbsolutePath),
  /** Inherited fds (besides 0, 1, 2) the target keeps: close-on-exec is cleared on them. */
  keepFds: z._default(z.array(int(3, 65535)), []),
  rlimits: z._default(InitRlimits, { memoryKind: "data" }),
  /** null: no landlock (reported as a note). */
  landlock: z._default(z.nullable(InitLandlock), null),
  seccomp: z._default(z.boolean(), true),
  /** "strict": any layer that cannot be applied stops the start; "best-effort": noted and skipped. */
  isolation: z._default(z.enum(["strict", "best-effort"]), "strict"),
  /**
   * Trusted helper processes (e.g. the in-sandbox proxy), started after no_new_privs, landlock and
   * seccomp (so they run under them) and before rlimits; each must print "ready" on stdout.
   */
  helpers: z._default(
    z.array(
      z.strictObject({
        argv: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
        env: z._default(z.record(z.string(), z.string()), {}),
        readyTimeoutMs: z._default(int(1, 60_000), 10_000),
      }),
    ),
    [],
  ),
  /** Write a one-line JSON report of what was enforced to this inherited fd, then close it. */
  reportFd: z.optional(int(3, 65535)),
  /** Also print every applied step to stderr (notes about skipped layers are always printed). */
  verbose: z._default(z.boolean(), false),
});

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
