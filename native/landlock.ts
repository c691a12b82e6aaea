/**
 * Landlock: unprivileged filesystem (and TCP port, and scope) restrictions, applied to the calling
 * thread and inherited across execve.
 *
 * The ABI is detected at run time and the policy degrades with it, saying what it dropped:
 *   v1  filesystem: execute, read/write files, read dirs, remove, make* (5.13)
 *   v2  REFER: rename/link across directories (5.19; under v1 reparenting is always refused)
 *   v3  TRUNCATE (6.2)
 *   v4  TCP bind/connect by port (6.7)
 *   v5  IOCTL_DEV: ioctl on device files (6.10)
 *   v6  scopes: abstract unix sockets and signals to processes outside the domain (6.12)
 *   v7+ audit logging flags (nothing to enforce here)
 *
 * Policy shape: read+execute trees (runtime dirs), read-only trees, read-write trees (workspace,
 * /tmp, /dev). Writable trees are not executable (W^X); list a tree in both `readExec` and
 * `readWrite` to get both (landlock ORs the rights of rules on the same inode).
 *
 * What landlock does NOT cover (as of ABI 7): `connect(2)` to a unix socket bound at a path, which
 * only needs the path to resolve. Which path sockets the sandbox can reach is decided by what
 * bubblewrap mounts into its mount namespace (the channel socket is bound there on purpose; host
 * sockets under /run are not mounted). Abstract unix sockets are covered by the v6 scope.
 *
 * Like `landlock_restrict_self` itself, `applyLandlock` restricts only the calling thread: use it
 * right before `execve` (as sandbox-init does), which makes the restricted thread the whole process.
 */
import { statSync } from "node:fs";
import { check, errnoName, libc, SyscallError } from "./libc.js";
import { hostArch, requireSyscall, type SyscallName } from "./syscall-table.js";
import { setNoNewPrivs } from "./seccomp.js";

export const ACCESS_FS = {
  EXECUTE: 1 << 0,
  WRITE_FILE: 1 << 1,
  READ_FILE: 1 << 2,
  READ_DIR: 1 << 3,
  REMOVE_DIR: 1 << 4,
  REMOVE_FILE: 1 << 5,
  MAKE_CHAR: 1 << 6,
  MAKE_DIR: 1 << 7,
  MAKE_REG: 1 << 8,
  MAKE_SOCK: 1 << 9,
  MAKE_FIFO: 1 << 10,
  MAKE_BLOCK: 1 << 11,
  MAKE_SYM: 1 << 12,
  REFER: 1 << 13,
  TRUNCATE: 1 << 14,
  IOCTL_DEV: 1 << 15,
} as const;
export const ACCESS_NET = { BIND_TCP: 1 << 0, CONNECT_TCP: 1 << 1 } as const;
export const SCOPE = { ABSTRACT_UNIX_SOCKET: 1 << 0, SIGNAL: 1 << 1 } as const;

const LANDLOCK_CREATE_RULESET_VERSION = 1 << 0;
const LANDLOCK_RULE_PATH_BENEATH = 1;
const LANDLOCK_RULE_NET_PORT = 2;
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;

/** Rights that make sense on a file (a rule on a non-directory may carry only these). */
const FILE_RIGHTS = ACCESS_FS.EXECUTE | ACCESS_FS.WRITE_FILE | ACCESS_FS.READ_FILE | ACCESS_FS.TRUNCATE | ACCESS_FS.IOCTL_DEV;
export const RIGHTS = {
  list: ACCESS_FS.READ_DIR,
  read: ACCESS_FS.READ_FILE | ACCESS_FS.READ_DIR,
  readExec: ACCESS_FS.READ_FILE | ACCESS_FS.READ_DIR | ACCESS_FS.EXECUTE,
  readWrite:
    ACCESS_FS.READ_FILE |
    ACCESS_FS.READ_DIR |
    ACCESS_FS.WRITE_FILE |
    ACCESS_FS.REMOVE_DIR |
    ACCESS_FS.REMOVE_FILE |
    ACCESS_FS.MAKE_CHAR |
    ACCESS_FS.MAKE_DIR |
    ACCESS_FS.MAKE_REG |
    ACCESS_FS.MAKE_SOCK |
    ACCESS_FS.MAKE_FIFO |
    ACCESS_FS.MAKE_BLOCK |
    ACCESS_FS.MAKE_SYM |
    ACCESS_FS.REFER |
    ACCESS_FS.TRUNCATE |
    ACCESS_FS.IOCTL_DEV,
} as const;

/** What an ABI can handle: every fs right it knows, TCP from v4, scopes from v6. */
export function handledAccess(abi: number): { fs: number; net: number; scoped: number } {
  if (abi < 1) return { fs: 0, net: 0, scoped: 0 };
  let fs = (1 << 13) - 1; // v1: EXECUTE .. MAKE_SYM
  if (abi >= 2) fs |= ACCESS_FS.REFER;
  if (abi >= 3) fs |= ACCESS_FS.TRUNCATE;
  if (abi >= 5) fs |= ACCESS_FS.IOCTL_DEV;
  const net = abi >= 4 ? ACCESS_NET.BIND_TCP | ACCESS_NET.CONNECT_TCP : 0;
  const scoped = abi >= 6 ? SCOPE.ABSTRACT_UNIX_SOCKET | SCOPE.SIGNAL : 0;
  return { fs, net, scoped };
}

export interface LandlockAbi {
  /** 0 when landlock cannot be used. */
  abi: number;
  detail: string;
}

function nr(name: SyscallName): number {
  const arch = hostArch();
  if (arch === null) throw new Error(`no landlock syscall numbers known for ${process.arch}`);
  return requireSyscall(arch, name);
}

/** `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`, with the reason when it fails. */
export function landlockAbi(): LandlockAbi {
  const c = libc();
  const abi = c.syscall(nr("landlock_create_ruleset"), null, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi >= 1) return { abi, detail: `landlock ABI ${abi}` };
  const code = errnoName(c.errno());
  if (code === "ENOSYS") return { abi: 0, detail: "the kernel was built without landlock (ENOSYS)" };
  if (code === "EOPNOTSUPP") return { abi: 0, detail: "landlock is built in but not enabled: add it to the lsm= boot parameter (EOPNOTSUPP)" };
  return { abi: 0, detail: `landlock_create_ruleset failed: ${code}` };
}

export interface LandlockPolicy {
  /** Trees that may be read and executed (runtime: /usr, /lib, the interpreter's install dir). */
  readExec: readonly string[];
  /**
   * When given, the only files (or trees) that may be execve'd: `readExec` trees are then only
   * read. This stops execve of other files, not their code: an executable loader can run any
   * readable program, and files without a path (memfds) are not governed by landlock.
   */
  executeOnly?: readonly string[] | undefined;
  /** Trees that may be read. */
  readOnly: readonly string[];
  /** Trees whose directories may be listed, without reading files (e.g. the sandbox's own "/"). */
  listOnly?: readonly string[] | undefined;
  /** Trees that may be read and changed, but not executed from (workspace, /tmp, /dev). */
  readWrite: readonly string[];
  /** TCP ports allowed to bind/connect (ABI >= 4). Absent: TCP is not restricted by landlock. */
  tcp?: { bind: readonly number[]; connect: readonly number[] } | undefined;
  /** Refuse connecting to abstract unix sockets created outside the sandbox (ABI >= 6). Default true. */
  scopeAbstractUnix?: boolean | undefined;
  /** Refuse signals to processes outside the sandbox (ABI >= 6). Default true. */
  scopeSignals?: boolean | undefined;
}

export interface LandlockReport {
  abi: number;
  enforced: boolean;
  handled: { fs: string[]; net: string[]; scoped: string[] };
  rules: { path: string; access: string[] }[];
  /** Everything that was skipped or degraded, one sentence each. */
  notes: string[];
}

export class LandlockError extends Error {
  override readonly name = "LandlockError";
}

export function accessNames(mask: number, table: Record<string, number>): string[] {
  return Object.entries(table)
    .filter(([, bit]) => (mask & bit) !== 0)
    .map(([name]) => name);
}

/**
 * Builds a ruleset from `policy`, restricts the calling thread to it, and says what was enforced.
 * `strict`: throw a `LandlockError` when landlock is unavailable; otherwise report it and return.
 * Paths that do not exist are skipped with a note (they grant nothing).
 * Sets no_new_privs (required by `landlock_restrict_self` without CAP_SYS_ADMIN).
 */
export function applyLandlock(policy: LandlockPolicy, options: { strict: boolean }): LandlockReport {
  const { abi, detail } = landlockAbi();
  const notes: string[] = [];
  const handled = handledAccess(abi);
  const report: LandlockReport = {
    abi,
    enforced: false,
    handled: { fs: accessNames(handled.fs, ACCESS_FS), net: [], scoped: [] },
    rules: [],
    notes,
  };
  if (abi < 1) {
    if (options.strict) throw new LandlockError(`landlock is required (strict isolation) but unavailable: ${detail}`);
    notes.push(`landlock not enforced: ${detail}`);
    return report;
  }
  if (abi < 2) notes.push("ABI < 2: no REFER right, so renaming or linking across directories is always refused");
  if (abi < 3) notes.push("ABI < 3: truncate() is not restricted");
  if (abi < 5) notes.push("ABI < 5: ioctl on device files is not restricted");

  let net = 0;
  if (policy.tcp) {
    if (handled.net) net = handled.net;
    else notes.push(`ABI ${abi} < 4: TCP bind/connect rules not enforced`);
  }
  let scoped = 0;
  if (policy.scopeAbstractUnix ?? true) scoped |= SCOPE.ABSTRACT_UNIX_SOCKET;
  if (policy.scopeSignals ?? true) scoped |= SCOPE.SIGNAL;
  if (scoped && !handled.scoped) notes.push(`ABI ${abi} < 6: abstract unix socket and signal scopes not enforced`);
  scoped &= handled.scoped;
  report.handled.net = accessNames(net, ACCESS_NET);
  report.handled.scoped = accessNames(scoped, SCOPE);

  const c = libc();
  // struct landlock_ruleset_attr { u64 handled_access_fs; u64 handled_access_net; u64 scoped; }
  const attr = Buffer.alloc(24);
  attr.writeBigUInt64LE(BigInt(handled.fs), 0);
  attr.writeBigUInt64LE(BigInt(net), 8);
  attr.writeBigUInt64LE(BigInt(scoped), 16);
  const attrSize = abi >= 6 ? 24 : abi >= 4 ? 16 : 8;
  const ruleset = check(c.syscall(nr("landlock_create_ruleset"), attr, attrSize, 0), "landlock_create_ruleset");
  try {
    const grant = (paths: readonly string[], rights: number): void => {
      for (const path of paths) addPathRule(ruleset, path, rights & handled.fs, report);
    };
    if (policy.executeOnly) {
      grant(policy.readExec, RIGHTS.read);
      grant(policy.executeOnly, ACCESS_FS.EXECUTE | ACCESS_FS.READ_FILE);
    } else {
      grant(policy.readExec, RIGHTS.readExec);
    }
    grant(policy.readOnly, RIGHTS.read);
    grant(policy.listOnly ?? [], RIGHTS.list);
    grant(policy.readWrite, RIGHTS.readWrite);
    if (net && policy.tcp) {
      for (const port of policy.tcp.bind) addPortRule(ruleset, port, ACCESS_NET.BIND_TCP);
      for (const port of policy.tcp.connect) addPortRule(ruleset, port, ACCESS_NET.CONNECT_TCP);
    }
    setNoNewPrivs();
    check(c.syscall(nr("landlock_restrict_self"), ruleset, 0), "landlock_restrict_self");
  } finally {
    c.close(ruleset);
  }
  report.enforced = true;
  return report;
}

function addPathRule(ruleset: number, path: string, rights: number, report: LandlockReport): void {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    report.notes.push(`skipped ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return;
  }
  const allowed = isDir ? rights : rights & FILE_RIGHTS;
  const c = libc();
  const fd = c.open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) {
    report.notes.push(`skipped ${path}: open(O_PATH) failed with ${errnoName(c.errno())}`);
    return;
  }
  try {
    // struct landlock_path_beneath_attr { u64 allowed_access; s32 parent_fd; } __attribute__((packed))
    const attr = Buffer.alloc(12);
    attr.writeBigUInt64LE(BigInt(allowed), 0);
    attr.writeInt32LE(fd, 8);
    if (c.syscall(nr("landlock_add_rule"), ruleset, LANDLOCK_RULE_PATH_BENEATH, attr, 0) !== 0) {
      throw new SyscallError("landlock_add_rule", c.errno(), path);
    }
  } finally {
    c.close(fd);
  }
  const existing = report.rules.find((r) => r.path === path);
  const names = accessNames(allowed, ACCESS_FS);
  if (existing) existing.access = [...new Set([...existing.access, ...names])];
  else report.rules.push({ path, access: names });
}

function addPortRule(ruleset: number, port: number, right: number): void {
  // struct landlock_net_port_attr { u64 allowed_access; u64 port; }
  const attr = Buffer.alloc(16);
  attr.writeBigUInt64LE(BigInt(right), 0);
  attr.writeBigUInt64LE(BigInt(port), 8);
  const c = libc();
  if (c.syscall(nr("landlock_add_rule"), ruleset, LANDLOCK_RULE_NET_PORT, attr, 0) !== 0) {
    throw new SyscallError("landlock_add_rule(net port)", c.errno(), `port ${port}`);
  }
}
