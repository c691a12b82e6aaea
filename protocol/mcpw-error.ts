/**
 * The error every boundary speaks, without the schema library: the Node preload, sandbox-init and
 * mcpw run's fast start load this module and must not pay for zod. errors.ts holds the schemas.
 */
export const ERROR_CODES = [
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
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorBodyData {
  code: ErrorCode;
  message: string;
  /** Dotted path of the offending field, when one field is to blame. */
  field?: string | undefined;
  /** errno-style code of an io_error (ENOENT, EACCES, ECONNREFUSED, ...). */
  errno?: string | undefined;
  /** Which policy rule refused, for policy_denied. */
  rule?: string | undefined;
  retryAfterMs?: number | undefined;
}

/** An error with a wire code; anything else thrown by a handler becomes `internal`. */
export class McpwError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly errno?: string;
  readonly rule?: string;
  readonly retryAfterMs?: number;

  constructor(code: ErrorCode, message: string, extra: Omit<ErrorBodyData, "code" | "message"> = {}) {
    super(message);
    this.name = "McpwError";
    this.code = code;
    if (extra.field !== undefined) this.field = extra.field;
    if (extra.errno !== undefined) this.errno = extra.errno;
    if (extra.rule !== undefined) this.rule = extra.rule;
    if (extra.retryAfterMs !== undefined) this.retryAfterMs = extra.retryAfterMs;
  }

  toBody(): ErrorBodyData {
    const body: ErrorBodyData = { code: this.code, message: this.message };
    if (this.field !== undefined) body.field = this.field;
    if (this.errno !== undefined) body.errno = this.errno;
    if (this.rule !== undefined) body.rule = this.rule;
    if (this.retryAfterMs !== undefined) body.retryAfterMs = this.retryAfterMs;
    return body;
  }

  static fromBody(body: ErrorBodyData): McpwError {
    const { code, message, ...extra } = body;
    return new McpwError(code, message, extra);
  }
}
