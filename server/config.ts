import { readFileSync } from "node:fs";
import { z } from "zod";
import { McpwError, zodToMcpwError } from "../protocol/errors.js";
import { EnvName } from "../protocol/policy.js";
import { DEFAULT_RATE_LIMIT } from "./auth-rate-limit.js";

export const ServerConfig = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(7800),
    /** The environment whose active bridge serves privileged operations. */
    env: EnvName.default("dev"),
    /** Workspaces of sandboxes created without one go under <workspaceRoot>/<sandbox-id>/. */
    workspaceRoot: z.string().min(1).default("./mount"),
    requestTimeoutMs: z.number().int().positive().default(30_000),
    /**
     * Ping every connection this often; one that answers nothing until the next ping is dropped (a
     * stopped or vanished bridge is thus replaced by its standby within 2 × heartbeatMs). 0: off.
     */
    heartbeatMs: z.number().int().min(0).default(15_000),
    /** A connection that has not authenticated within this time is closed. */
    authTimeoutMs: z.number().int().positive().default(10_000),
    rateLimit: z
      .object({
        maxFailures: z.number().int().positive().default(DEFAULT_RATE_LIMIT.maxFailures),
        windowMs: z.number().int().positive().default(DEFAULT_RATE_LIMIT.windowMs),
        lockoutMs: z.number().int().positive().default(DEFAULT_RATE_LIMIT.lockoutMs),
      })
      .strict()
      .prefault({}),
    /** Browser origins allowed to open the WebSocket; by default none (non-browser clients send no Origin). */
    allowedOrigins: z.array(z.string()).default([]),
  })
  .strict();
export type ServerConfig = z.infer<typeof ServerConfig>;
export type ServerConfigInput = z.input<typeof ServerConfig>;

/** Reads a JSON config file, naming the file and the field on any problem. */
export function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    // Every caller reads a file named on the command line: one that cannot be read is bad input.
    throw new McpwError("bad_params", `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new McpwError("bad_params", `${what} ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** readJsonFile, for files whose top level must be a JSON object (configs and policies). */
export function readJsonObject(path: string, what: string): Record<string, unknown> {
  const value = readJsonFile(path, what);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    const got = value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
    throw new McpwError("bad_params", `${what} ${path} must hold a JSON object, not ${got}`);
  }
  return value as Record<string, unknown>;
}

export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(input);
  if (!r.success) {
    const e = zodToMcpwError(r.error, "bad_params");
    throw new McpwError("bad_params", `${what}: ${e.message}`, e.field ? { field: e.field } : {});
  }
  return r.data;
}
