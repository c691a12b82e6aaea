/**
 * The few libc functions the OS layer needs, bound lazily through koffi.
 *
 * Nothing is loaded until `libc()` is first called, so importing a native/ module never fails on a
 * machine without koffi: the caller gets a `NativeUnavailableError` that says why, at the moment it
 * actually needs the kernel. Every wrapper returns the raw C result; `errno()` must be read right
 * after the call (no JavaScript that could make another libc call in between), which is what
 * `sys()` and `check()` do.
 */
import { createRequire } from "node:module";
import { constants } from "node:os";
import type * as Koffi from "koffi";

export class NativeUnavailableError extends Error {
  override readonly name = "NativeUnavailableError";
}

/** A failed C call: which call, and the errno it left. */
export class SyscallError extends Error {
  override readonly name = "SyscallError";
  constructor(
    readonly call: string,
    readonly errno: number,
    detail?: string,
  ) {
    super(`${call} failed: ${errnoName(errno)} (${describeErrno(errno)})${detail ? `: ${detail}` : ""}`);
  }
  get code(): string {
    return errnoName(this.errno);
  }
}

/** An argument of the variadic `syscall(2)`: integers go as `long`, buffers and strings as pointers. */
export type SyscallArg = number | bigint | Buffer | string | null;

export interface Libc {
  /** `syscall(nr, ...)`: the raw return value (-1 on error, then read `errno()`). */
  syscall(nr: number, ...args: SyscallArg[]): number;
  prctl(option: number, arg2?: number, arg3?: number, arg4?: number, arg5?: number): number;
  getrlimit(resource: number): { soft: bigint; hard: bigint } | null;
  setrlimit(resource: number, soft: bigint, hard: bigint): number;
  execve(path: string, argv: readonly string[], envp: readonly string[]): number;
  open(path: string, flags: number, mode?: number): number;
  close(fd: number): number;
  /** `fcntl(fd, cmd, int arg)`. */
  fcntl(fd: number, cmd: number, arg?: number): number;
  /** Sets the disposition of `signal` back to SIG_DFL. */
  resetSignal(signal: number): void;
  /** Unblocks every signal in the calling thread (`sigprocmask(SIG_SETMASK, {})`). */
  unblockAllSignals(): number;
  /** `getsockopt(fd, level, optname, buf, &len)`: the raw result; `buf` is filled, its used length returned in `len`. */
  getsockopt(fd: number, level: number, optname: number, buf: Buffer): { ret: number; len: number };
  /** The address of a buffer's bytes, for C structs that hold a pointer. Keep `buf` alive while used. */
  address(buf: Buffer): bigint;
  /** `waitpid(pid, &status, options)`: the pid reaped (0: none yet with WNOHANG, -1: error) and its raw status. */
  waitpid(pid: number, options: number): { ret: number; status: number };
  getuid(): number;
  geteuid(): number;
  getpid(): number;
  gettid(): number;
  errno(): number;
}

let cached: Libc | undefined;

/** The libc bindings, loaded on first use. Throws `NativeUnavailableError` when koffi cannot load. */
export function libc(): Libc {
  cached ??= bind(loadKoffi());
  return cached;
}

/** Whether koffi and libc can be loaded here, without throwing; `detail` says why not. */
export function nativeAvailability(): { available: boolean; detail: string } {
  try {
    libc();
    return { available: true, detail: "koffi loaded libc" };
  } catch (e) {
    return { available: false, detail: (e as Error).message };
  }
}

function loadKoffi(): typeof Koffi {
  if (process.platform !== "linux") {
    throw new NativeUnavailableError(`the native layer needs Linux, this is ${process.platform}`);
  }
  try {
    return createRequire(import.meta.url)("koffi") as typeof Koffi;
  } catch (e) {
    throw new NativeUnavailableError(
      `cannot load koffi (the FFI used for seccomp, landlock and rlimits): ${(e as Error).message}. ` +
        `Install the package \`koffi\` with its prebuilt binary for ${process.platform}-${process.arch}.`,
    );
  }
}

function bind(koffi: typeof Koffi): Libc {
  let lib: Koffi.LibraryHandle;
  try {
    lib = koffi.load("libc.so.6");
  } catch (e) {
    throw new NativeUnavailableError(`koffi cannot open libc.so.6 (a glibc system is required): ${(e as Error).message}`);
  }
  koffi.struct("mcpw_rlimit", { soft: "uint64_t", hard: "uint64_t" });
  const syscall = lib.func("long syscall(long nr, ...)");
  const prctl = lib.func("int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)");
  const getrlimit = lib.func("int getrlimit(int resource, _Out_ mcpw_rlimit *rlim)");
  const setrlimit = lib.func("int setrlimit(int resource, const mcpw_rlimit *rlim)");
  const execve = lib.func("int execve(const char *path, const char **argv, const char **envp)");
  const open = lib.func("int open(const char *path, int flags, ...)");
  const close = lib.func("int close(int fd)");
  const fcntl = lib.func("int fcntl(int fd, int cmd, ...)");
  const signal = lib.func("void *signal(int sig, void *handler)");
  const sigprocmask = lib.func("int sigprocmask(int how, const void *set, void *oldset)");
  const getsockopt = lib.func("int getsockopt(int fd, int level, int optname, _Inout_ uint8_t *optval, _Inout_ uint32_t *optlen)");
  const waitpid = lib.func("int waitpid(int pid, _Out_ int *status, int options)");
  const getuid = lib.func("unsigned int getuid(void)");
  const geteuid = lib.func("unsigned int geteuid(void)");
  const getpid = lib.func("int getpid(void)");
  const gettid = lib.func("int gettid(void)");

  const SIG_SETMASK = 2;
  return {
    syscall(nr, ...args) {
      const typed: unknown[] = [];
      for (const a of args) {
        if (a === null || Buffer.isBuffer(a)) typed.push("void *", a);
        else if (typeof a === "string") typed.push("const char *", a);
        else typed.push("long", a);
      }
      return Number(syscall(nr, ...typed));
    },
    prctl: (option, a2 = 0, a3 = 0, a4 = 0, a5 = 0) => prctl(option, a2, a3, a4, a5) as number,
    getrlimit(resource) {
      const out: { soft?: bigint; hard?: bigint } = {};
      if (getrlimit(resource, out) !== 0) return null;
      return { soft: BigInt(out.soft ?? 0), hard: BigInt(out.hard ?? 0) };
    },
    setrlimit: (resource, soft, hard) => setrlimit(resource, { soft, hard }) as number,
    execve: (path, argv, envp) => execve(path, [...argv, null], [...envp, null]) as number,
    open: (path, flags, mode = 0) => open(path, flags, "int", mode) as number,
    close: (fd) => close(fd) as number,
    fcntl: (fd, cmd, arg = 0) => fcntl(fd, cmd, "int", arg) as number,
    resetSignal: (sig) => void signal(sig, null),
    unblockAllSignals: () => sigprocmask(SIG_SETMASK, Buffer.alloc(128), null) as number,
    getsockopt(fd, level, optname, buf) {
      const len = [buf.length];
      const ret = getsockopt(fd, level, optname, buf, len) as number;
      return { ret, len: len[0]! };
    },
    address: (buf) => koffi.address(buf),
    waitpid(pid, options) {
      const status = [0];
      const ret = waitpid(pid, status, options) as number;
      return { ret, status: status[0]! };
    },
    getuid: () => getuid() as number,
    geteuid: () => geteuid() as number,
    getpid: () => getpid() as number,
    gettid: () => gettid() as number,
    errno: () => koffi.errno(),
  };
}

/** Calls `syscall(nr, ...args)` and returns `{ret, errno}` (errno 0 on success). */
export function sys(nr: number, ...args: SyscallArg[]): { ret: number; errno: number } {
  const c = libc();
  const ret = c.syscall(nr, ...args);
  return { ret, errno: ret === -1 ? c.errno() : 0 };
}

/** Throws a `SyscallError` naming `call` when `ret` is -1; returns `ret` otherwise. */
export function check(ret: number, call: string, detail?: string): number {
  if (ret === -1) throw new SyscallError(call, libc().errno(), detail);
  return ret;
}

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) if (!errnoNames.has(value)) errnoNames.set(value, name);

/** `EPERM` for 1, and so on; `errno N` for numbers Node does not name. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

const errnoText: Record<string, string> = {
  EPERM: "operation not permitted",
  EACCES: "permission denied",
  ENOENT: "no such file or directory",
  ENOSYS: "function not implemented by this kernel",
  EINVAL: "invalid argument",
  EOPNOTSUPP: "operation not supported",
  EFAULT: "bad address",
  E2BIG: "argument list too long",
  ENOMEM: "out of memory",
  EBADF: "bad file descriptor",
  ENOEXEC: "exec format error",
  EAGAIN: "resource temporarily unavailable",
};

function describeErrno(errno: number): string {
  return errnoText[errnoName(errno)] ?? "see errno(3)";
}
