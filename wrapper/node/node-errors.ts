import { constants } from "node:os";
import { ChannelError, type ErrorBody } from "./channel-client.js";

const DESCRIPTIONS: Record<string, string> = {
  EACCES: "permission denied",
  EROFS: "read-only file system",
  ENOENT: "no such file or directory",
  EEXIST: "file already exists",
  ENOTDIR: "not a directory",
  EISDIR: "illegal operation on a directory",
  ENOTEMPTY: "directory not empty",
  ENOTSUP: "operation not supported",
  EBADF: "bad file descriptor",
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by peer",
  ETIMEDOUT: "connection timed out",
  EFBIG: "file too large",
};

/** An error shaped like the one Node's own fs/net would throw (code, errno, syscall, path). */
export function nodeError(code: string, syscall: string, target: string | undefined, detail?: string): NodeJS.ErrnoException {
  const desc = DESCRIPTIONS[code] ?? code.toLowerCase();
  const where = target === undefined ? "" : ` '${target}'`;
  const err = new Error(`${code}: ${desc}, ${syscall}${where}${detail ? ` (mcpw: ${detail})` : ""}`) as NodeJS.ErrnoException;
  err.code = code;
  const n = (constants.errno as Record<string, number>)[code];
  if (n !== undefined) err.errno = -n;
  err.syscall = syscall;
  if (target !== undefined) err.path = target;
  return err;
}

/** A spawn failure worded as Node words its own: "spawn git EACCES". */
export function spawnError(code: string, file: string, args: string[], detail: string): NodeJS.ErrnoException & { spawnargs: string[] } {
  const err = nodeError(code, `spawn ${file}`, undefined) as NodeJS.ErrnoException & { spawnargs: string[] };
  err.message = `spawn ${file} ${code} (mcpw: ${detail})`;
  err.path = file;
  err.spawnargs = args;
  return err;
}

/** Maps a supervisor/bridge error onto the errno a program expects. */
export function fromChannelError(e: unknown, syscall: string, target: string | undefined): NodeJS.ErrnoException {
  if (!(e instanceof ChannelError)) return e as NodeJS.ErrnoException;
  const body: ErrorBody = e.body;
  const code = body.errno ?? (body.code === "policy_denied" ? "EACCES" : body.code === "timeout" ? "ETIMEDOUT" : "EIO");
  // A bridge's own errno message already says what failed; keep only the detail of policy refusals.
  const detail = body.code === "policy_denied" ? body.message : body.code === "io_error" ? undefined : body.message;
  return nodeError(code, syscall, target, detail);
}
