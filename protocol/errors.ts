import { z } from "zod";

/** Every error that crosses a boundary carries one of these codes. */
export const ErrorCode = z.enum([
  "bad_frame", // not JSON, wrong envelope, frame too large
  "bad_params", // envelope fine, params failed their schema
  "unsupported_version",
  "unknown_method",
  "unauthorized", // missing, malformed, unknown, expired or revoked token
  "forbidden", // authenticated, but this role may not do that
  "rate_limited",
  "not_found",
  "conflict",
  "no_bridge", // no active bridge for the selected environment
  "bridge_gone", // the bridge dropped while the request was in flight
  "timeout",
  "policy_denied", // a policy rule refused the operation
  "io_error", // the operation was allowed but failed (ENOENT, ECONNREFUSED, ...)
  "too_large",
  "internal",
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ErrorBody = z
  .object({
    code: ErrorCode,
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

/** An error with a wire code; anything else thrown by a handler becomes `internal`. */
export class McpwError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly errno?: string;
  readonly rule?: string;
  readonly retryAfterMs?: number;

  constructor(code: ErrorCode, message: string, extra: Omit<ErrorBody, "code" | "message"> = {}) {
    super(message);
    this.name = "McpwError";
    this.code = code;
    if (extra.field !== undefined) this.field = extra.field;
    if (extra.errno !== undefined) this.errno = extra.errno;
    if (extra.rule !== undefined) this.rule = extra.rule;
    if (extra.retryAfterMs !== undefined) this.retryAfterMs = extra.retryAfterMs;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.field !== undefined) body.field = this.field;
    if (this.errno !== undefined) body.errno = this.errno;
    if (this.rule !== undefined) body.rule = this.rule;
    if (this.retryAfterMs !== undefined) body.retryAfterMs = this.retryAfterMs;
    return body;
  }

  static fromBody(body: ErrorBody): McpwError {
    const { code, message, ...extra } = body;
    return new McpwError(code, message, extra);
  }
}

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
