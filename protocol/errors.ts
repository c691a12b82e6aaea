import { z } from "zod";

import { ERROR_CODES, McpwError, type ErrorCode } from "./mcpw-error.js";

export { McpwError, type ErrorCode };

/** Every error that crosses a boundary carries one of these codes. */
export const ErrorCodeSchema = z.enum(ERROR_CODES);

export const ErrorBody = z
  .object({
    code: ErrorCodeSchema,
    message: z.string(),
    /** Dotted path of the offending field, when one field is to blame. */
    field: z.string().optional(),
    /** errno-style code of an io_error (ENOENT, EACCES, ECONNREFUSED, ...). */
    errno: z.string().optional(),
    /** Which policy rule refused, for policy_denied. */
    rule: z.string().optional(),
    retryAfterMs: z.number().optional(),
  })
  .strict();
export type ErrorBody = z.infer<typeof ErrorBody>;

/** The wire form of an error, as a type (McpwError.toBody() returns one). */
export type { ErrorBodyData } from "./mcpw-error.js";

/** Turns a zod failure into one error that names the first bad field (prefixed, e.g. "params."). */
export function zodToMcpwError(error: z.ZodError, code: ErrorCode, prefix = ""): McpwError {
  const issue = error.issues[0];
  if (!issue) return new McpwError(code, "invalid input");
  let path = issue.path.map(String).join(".");
  // An unknown key is best named by the key itself.
  if (issue.code === "unrecognized_keys" && issue.keys.length > 0) {
    path = [path, issue.keys[0]].filter(Boolean).join(".");
  }
  const field = prefix ? [prefix, path].filter(Boolean).join(".") : path;
  const message = describeIssue(issue);
  return new McpwError(code, field ? `${field}: ${message}` : message, field ? { field } : {});
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "unrecognized_keys":
      return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
    case "invalid_type": {
      // zod 4 keeps the input out of issues; its message says what was received.
      const received = /received (\w+)/.exec(issue.message)?.[1];
      if (received === "undefined") return `expected ${issue.expected}, but it is missing`;
      return `expected ${issue.expected}${received ? `, got ${received}` : ""}`;
    }
    default:
      return issue.message;
  }
}


/** Parses with a schema, throwing a McpwError that names the field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, code: ErrorCode, prefix = ""): z.infer<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw zodToMcpwError(r.error, code, prefix);
  return r.data;
}

/** Turns anything thrown into a wire error body. Node system errors keep their errno. */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof McpwError) return err.toBody();
  const e = err as NodeJS.ErrnoException | undefined;
  if (e && typeof e === "object" && typeof e.code === "string" && /^E[A-Z0-9]+$/.test(e.code)) {
    return { code: "io_error", message: e.message, errno: e.code };
  }
  return { code: "internal", message: e instanceof Error ? e.message : String(err) };
}
