/**
 * Installing a seccomp filter on the whole process, and reading back the seccomp state.
 *
 * `installSeccompFilter` calls `seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog)`:
 * Node runs several threads (V8 platform workers, the libuv pool), and a filter installed on the
 * calling thread alone would leave them unfiltered. With TSYNC the kernel applies it to every thread
 * or to none; when one thread cannot be synchronised the call returns that thread's id.
 * `PR_SET_NO_NEW_PRIVS` must be set first (an unprivileged process may not install a filter
 * otherwise); TSYNC then carries no_new_privs to the other threads as well.
 */
import { readFileSync } from "node:fs";
import { libc, SyscallError } from "./libc.js";
import { hostArch, requireSyscall } from "./syscall-table.js";

export const PR_GET_SECCOMP = 21;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_GET_NO_NEW_PRIVS = 39;
export const SECCOMP_SET_MODE_FILTER = 1;
export const SECCOMP_GET_ACTION_AVAIL = 2;
export const SECCOMP_FILTER_FLAG_TSYNC = 1;

export class SeccompInstallError extends Error {
  override readonly name = "SeccompInstallError";
}

/** Sets PR_SET_NO_NEW_PRIVS on the calling thread (idempotent; it can never be unset). */
export function setNoNewPrivs(): void {
  const c = libc();
  if (c.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) !== 0) throw new SyscallError("prctl(PR_SET_NO_NEW_PRIVS)", c.errno());
}

function seccompNr(): number {
  const arch = hostArch();
  if (arch === null) throw new SeccompInstallError(`no seccomp syscall number known for ${process.arch}`);
  return requireSyscall(arch, "seccomp");
}

/**
 * Installs `program` (a `struct sock_filter[]`, e.g. from `seccompProgram()`) on every thread of
 * this process. Sets no_new_privs first. Throws a `SeccompInstallError` saying what failed.
 */
export function installSeccompFilter(program: Buffer, options: { tsync?: boolean } = {}): void {
  const tsync = options.tsync ?? true;
  if (program.length === 0 || program.length % 8 !== 0) {
    throw new SeccompInstallError(`a filter is a non-empty array of 8-byte sock_filter entries, got ${program.length} bytes`);
  }
  setNoNewPrivs();
  const c = libc();
  // struct sock_fprog { unsigned short len; /* 6 bytes padding */ struct sock_filter *filter; }
  const fprog = Buffer.alloc(16);
  fprog.writeUInt16LE(program.length / 8, 0);
  fprog.writeBigUInt64LE(c.address(program), 8);
  const ret = c.syscall(seccompNr(), SECCOMP_SET_MODE_FILTER, tsync ? SECCOMP_FILTER_FLAG_TSYNC : 0, fprog);
  if (ret === 0) return;
  if (ret > 0) {
    throw new SeccompInstallError(
      `seccomp TSYNC failed: thread ${ret} could not be synchronised (it already has a filter that is not an ancestor of ours)`,
    );
  }
  const err = new SyscallError("seccomp(SECCOMP_SET_MODE_FILTER)", c.errno());
  throw new SeccompInstallError(
    err.code === "EINVAL"
      ? `${err.message}: the kernel refused the program or the TSYNC flag`
      : err.code === "EACCES"
        ? `${err.message}: no_new_privs is not set and the process lacks CAP_SYS_ADMIN`
        : err.message,
  );
}

export interface SeccompStatus {
  /** 0 = off, 1 = strict, 2 = filter. */
  mode: 0 | 1 | 2;
  /** How many filters are stacked on this thread (`Seccomp_filters`, Linux >= 5.9). */
  filters: number | null;
  noNewPrivs: boolean;
}

/** Parses the Seccomp, Seccomp_filters and NoNewPrivs lines of `/proc/<pid>/status` (default: self). */
export function readSeccompStatus(statusText: string = readFileSync("/proc/self/status", "utf8")): SeccompStatus {
  const field = (name: string): number | null => {
    const m = new RegExp(`^${name}:\\s*(\\d+)`, "m").exec(statusText);
    return m ? Number(m[1]) : null;
  };
  const mode = field("Seccomp");
  return { mode: mode === 1 || mode === 2 ? mode : 0, filters: field("Seccomp_filters"), noNewPrivs: field("NoNewPrivs") === 1 };
}

/** Whether the kernel knows the return action `action` (e.g. SECCOMP_RET.KILL_PROCESS). */
export function seccompActionAvailable(action: number): boolean {
  const value = Buffer.alloc(4);
  value.writeUInt32LE(action >>> 0);
  return libc().syscall(seccompNr(), SECCOMP_GET_ACTION_AVAIL, 0, value) === 0;
}
