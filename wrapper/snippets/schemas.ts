import { z } from "zod";
import { AbsolutePath, FilesystemPolicy, LimitsPolicy, NetworkPolicy } from "../../protocol/policy.js";

/**
 * The parameters and result of the `run_js` and `run_py` tools, defined once: the MCP tool list
 * shows their JSON Schema, every call is parsed with them, and the TypeScript types are inferred.
 */

/** The same field, optional and without its default: a patch names only what it changes. */
function optionalShape<S extends z.ZodRawShape>(shape: S): { [K in keyof S]: z.ZodOptional<z.ZodType<z.output<S[K]>>> } {
  const out: Record<string, z.ZodType> = {};
  for (const [key, field] of Object.entries(shape)) {
    const inner = field instanceof z.ZodDefault ? (field.unwrap() as z.ZodType) : (field as z.ZodType);
    out[key] = inner.optional();
  }
  return out as never;
}

/** A partial policy for one call. It may only narrow the configured policy (see narrow-policy.ts). */
export const PolicyPatch = z
  .object({
    network: z.object(optionalShape(NetworkPolicy.shape)).strict().optional(),
    filesystem: z.object(optionalShape(FilesystemPolicy.shape)).strict().optional(),
    limits: z
      .object({
        timeoutMs: z.number().int().positive().optional(),
        memMb: LimitsPolicy.shape.memMb.unwrap().optional(),
        stdoutBytes: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type PolicyPatch = z.infer<typeof PolicyPatch>;

const EnvVars = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name"), z.string().max(64 * 1024));
/** A path inside the snippet's virtual file system. */
const VirtualPath = AbsolutePath.describe("a path in the snippet's virtual file system, e.g. /mount/data");

const common = {
  code: z.string().max(1024 * 1024).describe("the program text"),
  stdin: z.string().max(16 * 1024 * 1024).default("").describe("text the program reads as standard input"),
  args: z.array(z.string().max(64 * 1024)).max(1024).default([]).describe("command-line arguments (process.argv / sys.argv after the script name)"),
  env: EnvVars.default({}).describe("environment variables (process.env / os.environ); nothing comes from the host"),
  cwd: VirtualPath.default("/mount").describe("working directory: /mount or a directory below it, or one inside the policy's filesystem paths"),
  policy: PolicyPatch.default({}).describe("narrows the configured policy for this call; it can never widen it"),
};

/** npm package names (scoped or not) and versions or simple ranges (1.2.3, ^1.2.0, ~1.2, 1.x, *, latest). */
export const NpmName = z.string().regex(/^(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/, "not an npm package name");
export const NpmRange = z.string().max(64).regex(/^(latest|\*|[~^]?\d+(\.(\d+|x|\*))?(\.(\d+|x|\*))?(-[0-9A-Za-z.-]+)?)$/, "expected a version such as 1.2.3, ^1.2.0, ~1.2, 1.x, * or latest");

export const RunJsParams = z
  .object({
    ...common,
    npm: z
      .object({ dependencies: z.record(NpmName, NpmRange).default({}).describe("packages to install (through the bridge) and bundle with the code") })
      .strict()
      .prefault({}),
  })
  .strict();
export type RunJsParams = z.infer<typeof RunJsParams>;
export type RunJsInput = z.input<typeof RunJsParams>;

/** A PEP 508 requirement as micropip takes it: a name and an optional exact pin (name==1.0). */
export const PipRequirement = z.string().max(200).regex(/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?(==[A-Za-z0-9.+!_-]+)?$/, "expected a requirement such as attrs or attrs==23.1.0");

export const RunPyParams = z
  .object({
    ...common,
    pip: z
      .object({
        requirements: z.array(PipRequirement).max(64).default([]).describe("packages to install from the index (pip.indexUrl) through the bridge"),
        wheelUrls: z.array(z.url({ protocol: /^https?$/ })).max(64).default([]).describe("pure-Python wheels to install, fetched through the bridge"),
        indexUrl: z.url({ protocol: /^https?$/ }).optional().describe("a PEP 503 simple index (default: the configured one)"),
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type RunPyParams = z.infer<typeof RunPyParams>;
export type RunPyInput = z.input<typeof RunPyParams>;

/** Which limit ended a run. */
export const LimitReason = z.enum(["timeout", "memory", "output", "stack"]);
export type LimitReason = z.infer<typeof LimitReason>;

export const SnippetResult = z
  .object({
    stdout: z.string(),
    stderr: z.string(),
    /** 0 success, 1 uncaught error, the code given to exit()/sys.exit(); 124 timeout, 137 memory, 141 output, 1 stack. */
    exitCode: z.number().int(),
    /** The value of the last expression (JSON-compatible, or its string form), where there is one. */
    value: z.unknown().optional(),
    durationMs: z.number(),
    /** Set when a limit ended the run. */
    reason: LimitReason.optional(),
    /** The capsule that ran (sha256 of its content). */
    capsule: z.string().optional(),
  })
  .strict();
export type SnippetResult = z.infer<typeof SnippetResult>;

export const EXIT_CODES: Record<LimitReason, number> = { timeout: 124, memory: 137, output: 141, stack: 1 };
