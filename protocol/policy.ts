import { z } from "zod";

/**
 * Sandbox policy: one schema, from a JSON file or inline. Every field has a safe default, so `{}` is
 * the tightest useful policy: workspace only, no network, no programs, nothing from the host env.
 */

export const EnvName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, "environment names are 1-32 chars of a-z, 0-9, _ or -, starting with a letter");

/** An absolute, normalised path without NUL bytes. */
export const AbsolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.includes("\0"), "path contains a NUL byte")
  .refine((p) => p.startsWith("/"), "path must be absolute");

/**
 * Host patterns: `example.com` (exactly), `*.example.com` (any subdomain, not the apex), `*` (any
 * name), or an IP literal (`127.0.0.1`, `::1`, `[::1]`). Each may end in `:port`.
 */
export const HostPattern = z
  .string()
  .min(1)
  .max(260)
  .regex(
    /^(\*|(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\]|[0-9a-f:]*:[0-9a-f:.]*)(:\d{1,5})?$/i,
    "expected a host pattern such as example.com, *.example.com, 127.0.0.1 or [::1], optionally with :port",
  );

/** An IPv4 or IPv6 range in CIDR form. */
export const Cidr = z
  .string()
  .regex(/^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]+)\/\d{1,3}$/i, "expected a CIDR range such as 127.0.0.0/8 or ::1/128");

export const NetworkPolicy = z
  .object({
    /** Hosts that may be reached. Empty: no network at all. */
    allowedDomains: z.array(HostPattern).default([]),
    /** Hosts that may never be reached; wins over allowedDomains. */
    deniedDomains: z.array(HostPattern).default([]),
    /** Refuse hosts given as IP literals, unless the literal itself is in allowedDomains. */
    denyIpLiterals: z.boolean().default(true),
    /**
     * Refuse addresses in private, loopback, link-local, CGNAT, multicast and reserved ranges, checked
     * after DNS resolution (so a public name that resolves to 127.0.0.1 is refused too), unless the
     * address is inside allowedCidrs or is an IP literal listed in allowedDomains.
     */
    blockPrivateRanges: z.boolean().default(true),
    /** Ranges reachable even when blockPrivateRanges is on (e.g. an intranet, or 127.0.0.0/8 in tests). */
    allowedCidrs: z.array(Cidr).default([]),
    maxBodyBytes: z.number().int().positive().max(1024 * 1024 * 1024).default(10 * 1024 * 1024),
    maxRedirects: z.number().int().min(0).max(50).default(5),
  })
  .strict();
export type NetworkPolicy = z.infer<typeof NetworkPolicy>;
export type NetworkPolicyInput = z.input<typeof NetworkPolicy>;

export const FilesystemPolicy = z
  .object({
    /** Host paths outside /mount the sandbox may read (served by the bridge, seen at the same path). */
    readonly: z.array(AbsolutePath).default([]),
    /** Host paths outside /mount the sandbox may read and write (served by the bridge). */
    writable: z.array(AbsolutePath).default([]),
  })
  .strict();

export const CommandName = z
  .string()
  .min(1)
  .max(4096)
  .refine((c) => !c.includes("\0"), "command contains a NUL byte")
  .refine((c) => c.startsWith("/") || !c.includes("/"), "command must be a bare name or an absolute path");

export const ExecPolicy = z
  .object({
    /** Programs the sandbox may start inside the sandbox (same namespaces and limits). */
    allow: z.array(CommandName).default([]),
    /** Programs the sandbox may ask the bridge to run on the host, under the bridge's own policy. */
    viaBridge: z.array(CommandName).default([]),
  })
  .strict();

export const LimitsPolicy = z
  .object({
    /** Wall-clock limit for the whole sandbox; 0 means none (an MCP server runs until stopped). */
    timeoutMs: z.number().int().min(0).default(0),
    memMb: z.number().int().min(16).max(1024 * 1024).default(4096),
    /** Bytes the sandbox may write to stdout; 0 means no limit. */
    stdoutBytes: z.number().int().min(0).default(0),
    maxProcs: z.number().int().min(1).max(100000).default(256),
    maxFileMb: z.number().int().min(1).max(1024 * 1024).default(1024),
    openFiles: z.number().int().min(16).max(1048576).default(1024),
    /** CPU seconds; 0 means no limit. */
    cpuSeconds: z.number().int().min(0).default(0),
  })
  .strict();

export const EnvPolicy = z
  .object({
    /** Names of host environment variables passed into the sandbox. Nothing is passed by default. */
    pass: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name")).default([]),
    /** Variables set inside the sandbox. */
    set: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name"), z.string()).default({}),
  })
  .strict();

export const Policy = z
  .object({
    /** strict: refuse to start when an isolation layer is missing; best-effort: start and say so. */
    isolation: z.enum(["strict", "best-effort"]).default("strict"),
    network: NetworkPolicy.prefault({}),
    filesystem: FilesystemPolicy.prefault({}),
    exec: ExecPolicy.prefault({}),
    limits: LimitsPolicy.prefault({}),
    env: EnvPolicy.prefault({}),
  })
  .strict();
export type Policy = z.infer<typeof Policy>;
export type PolicyInput = z.input<typeof Policy>;

const EnvVarName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name");

/**
 * Variables an exec op may always set: locale, time zone and terminal settings. Their values may not
 * name a file (no leading "/", no ".."), so they cannot point a program at files the sandbox wrote.
 * Anything else must be listed in the bridge policy's `exec.allowEnv`.
 */
export const EXEC_SAFE_ENV: readonly string[] = ["LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "LC_COLLATE", "LC_NUMERIC", "LC_TIME", "TZ", "TERM", "NO_COLOR", "COLUMNS", "LINES"];
export const EXEC_SAFE_ENV_VALUE = /^(?!\/)(?!.*\.\.)[A-Za-z0-9_.:+@,\/-]{0,64}$/;

/**
 * Variables `exec.allowEnv` may not list: PATH comes from exec.path, and these make common programs
 * load or run other code (a policy that lists them is refused, not silently weakened).
 */
const NEVER_EXEC_ENV = new Set([
  "PATH",
  "GCONV_PATH",
  "GLIBC_TUNABLES",
  "BASH_ENV",
  "ENV",
  "SHELLOPTS",
  "BASHOPTS",
  "PS4",
  "IFS",
  "NODE_OPTIONS",
  "NODE_PATH",
  "PYTHONSTARTUP",
  "PYTHONPATH",
  "PYTHONHOME",
  "PYTHONINSPECT",
  "PERL5OPT",
  "PERL5LIB",
  "PERLLIB",
  "RUBYOPT",
  "RUBYLIB",
  "JAVA_TOOL_OPTIONS",
  "_JAVA_OPTIONS",
]);
const NEVER_EXEC_ENV_PREFIXES = ["LD_"];

export function neverExecEnv(name: string): boolean {
  return NEVER_EXEC_ENV.has(name) || NEVER_EXEC_ENV_PREFIXES.some((p) => name.startsWith(p));
}

/** A regular expression source that must match a whole argument (it is anchored: `^(?:…)$`). */
const ArgPattern = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => {
    try {
      new RegExp(p);
      return true;
    } catch {
      return false;
    }
  }, "not a valid regular expression");

/**
 * One `exec.allow` entry of a bridge policy: a program (bare name or absolute path) that may run
 * with any arguments, or `{ command, args }`: the program may run only when every argument matches
 * one of the `args` patterns in full (`[]`: no arguments at all).
 */
export const BridgeExecAllow = z.union([
  CommandName,
  z.object({ command: CommandName, args: z.array(ArgPattern).max(256) }).strict(),
]);
export type BridgeExecAllow = z.infer<typeof BridgeExecAllow>;

/** A bridge's exec.allow entry as operators read it: "git", or "git (args: status, --short)". */
export function describeExecAllow(entry: BridgeExecAllow): string {
  return typeof entry === "string" ? entry : `${entry.command} (args: ${entry.args.length ? entry.args.join(", ") : "none"})`;
}

/**
 * The bridge's own capability policy: what this environment may reach on the host. Checked at the
 * bridge for every operation, whatever the sandbox policy said.
 */
export const BridgePolicy = z
  .object({
    filesystem: z
      .object({
        readonly: z.array(AbsolutePath).default([]),
        readwrite: z.array(AbsolutePath).default([]),
      })
      .strict()
      .prefault({}),
    network: NetworkPolicy.prefault({}),
    exec: z
      .object({
        /**
         * Programs that may run on the host. An allowed program gets whatever arguments the sandbox
         * chooses, unless its entry constrains them: allow only programs that are safe with any argv.
         */
        allow: z.array(BridgeExecAllow).default([]),
        /** Environment variables an exec op may set besides EXEC_SAFE_ENV (values unchecked). */
        allowEnv: z
          .array(
            EnvVarName.refine((n) => !neverExecEnv(n), {
              error: (iss) =>
                iss.input === "PATH"
                  ? "PATH cannot be allowed: it comes from exec.path"
                  : `${String(iss.input)} cannot be allowed: it makes programs load or run other code`,
            }),
          )
          .default([]),
        /** Directories searched for bare command names (never the caller's PATH). */
        path: z.array(AbsolutePath).default(["/usr/local/bin", "/usr/bin", "/bin"]),
        timeoutMs: z.number().int().positive().default(30_000),
        maxOutputBytes: z.number().int().positive().default(1024 * 1024),
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type BridgePolicy = z.infer<typeof BridgePolicy>;
export type BridgePolicyInput = z.input<typeof BridgePolicy>;

/** What a bridge announces when it registers: a summary of its policy, shown to operators. */
export const BridgeCapabilities = z
  .object({
    fs: z.object({ readonly: z.array(z.string()), readwrite: z.array(z.string()) }).strict(),
    network: z.object({ allowedDomains: z.array(z.string()), deniedDomains: z.array(z.string()) }).strict(),
    exec: z.array(z.string()),
  })
  .strict();
export type BridgeCapabilities = z.infer<typeof BridgeCapabilities>;
