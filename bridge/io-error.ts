import { McpwError } from "../protocol/errors.js";

/**
 * Turns an error from the OS into an `io_error` whose message names the path or destination the
 * caller asked about, never the `/proc/self/fd/...` path the bridge used internally. McpwErrors pass
 * through unchanged; anything without an errno becomes `internal`.
 */
export function ioError(err: unknown, what: string): McpwError {
  if (err instanceof McpwError) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  const code = e && typeof e === "object" && typeof e.code === "string" ? e.code : undefined;
  if (code) {
    // File errors read "ENOENT: no such file or directory, open '/proc/self/fd/21/x'": keep the
    // words, drop the internal path. Others ("self-signed certificate", "connect ECONNREFUSED
    // 127.0.0.1:80") are kept whole.
    const message = e?.message ?? "";
    const words = /^[A-Z0-9_]+: ([^,]+)/.exec(message)?.[1] ?? (message.includes("/proc/self/fd") ? undefined : message);
    return new McpwError("io_error", `${what}: ${code}${words ? ` (${words})` : ""}`, { errno: code });
  }
  return new McpwError("internal", `${what}: ${e instanceof Error ? e.message : String(err)}`);
}

/** An io_error with a chosen errno, for conditions the bridge detects itself (e.g. "not a regular file"). */
export function ioFailure(errno: string, message: string): McpwError {
  return new McpwError("io_error", message, { errno });
}
