/**
 * The seccomp-bpf program mcpw installs, generated in TypeScript for x86-64 and aarch64.
 *
 * Shape (the whole security story is the `SECCOMP_RULES` table below):
 *  1. `seccomp_data.arch` must be this architecture's AUDIT_ARCH. Anything else (i386 through
 *     `int 0x80` on x86-64, 32-bit ARM compat on aarch64) is KILL_PROCESS: a foreign ABI has other
 *     syscall numbers, so none of the checks below would mean anything, and answering EPERM to every
 *     call would also refuse `exit`, leaving such a process spinning instead of ending.
 *  2. x86-64 only: numbers with the x32 bit (>= 0x40000000) get EPERM, so the x32 ABI cannot be
 *     used to reach a syscall under another number.
 *  3. A linear list of `jeq` on the syscall number: denied calls return `ERRNO(EPERM)` (not a kill,
 *     so programs print a clean "Operation not permitted"); `clone3` returns ENOSYS, because its
 *     flags sit behind a pointer a filter cannot read and glibc (>= 2.34) falls back to `clone`.
 *  4. Syscalls whose arguments decide (clone, socket, socketpair, ioctl, personality, and the
 *     calls that set a file's mode: chmod and friends, open/openat with O_CREAT, mknod) jump to a
 *     small block that reads the low 32 bits of the argument: the kernel itself only uses the low 32
 *     bits of each of these (int / unsigned int; `clone` takes `lower_32_bits(flags)`), so the
 *     upper half cannot be used to smuggle a value past the check.
 *  5. Everything else is allowed.
 *
 * Filters are generated per architecture; a missing syscall on an architecture (e.g. `iopl` on
 * aarch64) is simply not emitted.
 */
import { BpfBuilder, NEXT, SECCOMP_DATA, serialize, type SockFilter } from "./bpf.js";
import { AUDIT_ARCH, X32_SYSCALL_BIT, hostArch, syscallNumber, type Arch, type SyscallName } from "./syscall-table.js";

/** seccomp return actions (linux/seccomp.h). */
export const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

export const EPERM = 1;
export const ENOSYS = 38;

/** Flag bits of clone(2) that create a namespace (CLONE_NEWTIME, 0x80, only exists for clone3/unshare). */
export const CLONE_NEW_FLAGS =
  0x00020000 | // CLONE_NEWNS
  0x02000000 | // CLONE_NEWCGROUP
  0x04000000 | // CLONE_NEWUTS
  0x08000000 | // CLONE_NEWIPC
  0x10000000 | // CLONE_NEWUSER
  0x20000000 | // CLONE_NEWPID
  0x40000000; // CLONE_NEWNET

export const AF = { UNIX: 1, INET: 2, INET6: 10, NETLINK: 16, PACKET: 17 } as const;
export const SOCK = { TYPE_MASK: 0xf, RAW: 3, PACKET: 10 } as const;
export const NETLINK_ROUTE = 0;
export const TIOCSTI = 0x5412;
export const TIOCLINUX = 0x541c;
/** S_ISUID | S_ISGID: a file with either, made in the workspace, is a set-id program on the host (nosuid binds only inside). */
export const SETID_BITS = 0o6000;
/** open(2) flags that make the call create a file with the given mode: O_CREAT, and __O_TMPFILE (O_TMPFILE without O_DIRECTORY). Same on x86-64 and aarch64. */
export const CREATE_FLAGS = 0o100 | 0o20000000;
/** personality(2) values allowed (as Docker does): PER_LINUX, PER_LINUX32, UNAME26, both, and the query. */
export const ALLOWED_PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff] as const;

type Action = "eperm" | "enosys";
type ArgCheck =
  | "clone-namespaces"
  | "socket-family"
  | "ioctl-command"
  | "personality"
  /** EPERM when the mode (argument 1 or 2) has S_ISUID or S_ISGID. */
  | "setid-mode-arg1"
  | "setid-mode-arg2"
  /** EPERM when the flags (argument 1 or 2) create a file and the mode (the next argument) has S_ISUID or S_ISGID. */
  | "setid-create-arg1"
  | "setid-create-arg2";

export interface SeccompRule {
  syscall: SyscallName;
  /** `eperm`/`enosys`: always; an ArgCheck: EPERM only when the arguments ask for what is described. */
  when: Action | ArgCheck;
  why: string;
}

const always = (why: string, ...names: SyscallName[]): SeccompRule[] => names.map((syscall) => ({ syscall, when: "eperm" as const, why }));

/** What the filter refuses, and why. Order is the order of the checks. */
export const SECCOMP_RULES: readonly SeccompRule[] = [
  ...always("inspect or modify another process's memory", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise"),
  ...always(
    "change the mount table (the namespace layout is bubblewrap's job, done before us)",
    "mount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "mount_setattr",
  ),
  ...always("enter or create namespaces (a new user namespace hands out capabilities again)", "unshare", "setns"),
  {
    syscall: "clone",
    when: "clone-namespaces",
    // Flags are arg0 on both arches: aarch64 (CLONE_BACKWARDS) only swaps tls and child_tid (args
    // 3/4); s390's CLONE_BACKWARDS2 would put them in arg1, but mcpw has no s390 filter.
    why: "clone with any CLONE_NEW* flag creates namespaces; plain fork/thread clones pass",
  },
  { syscall: "clone3", when: "enosys", why: "its flags are behind a pointer the filter cannot read; ENOSYS makes glibc fall back to clone" },
  ...always("large kernel attack surface, and tracing of other processes", "bpf", "perf_event_open", "userfaultfd"),
  ...always("kernel keyrings are not namespaced", "keyctl", "add_key", "request_key"),
  ...always("io_uring performs I/O without passing through the syscalls this filter sees", "io_uring_setup", "io_uring_enter", "io_uring_register"),
  ...always("load a kernel or kernel code", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "uselib"),
  { syscall: "personality", when: "personality", why: "READ_IMPLIES_EXEC, MMAP_PAGE_ZERO, ADDR_NO_RANDOMIZE weaken exploit mitigations" },
  ...always("host-wide administration", "acct", "swapon", "swapoff", "reboot", "quotactl", "quotactl_fd", "nfsservctl", "vhangup", "fanotify_init"),
  ...always("read the kernel log (kernel addresses) or the dcache", "syslog", "lookup_dcookie"),
  ...always("open files by handle, bypassing path checks (the 'shocker' escape)", "open_by_handle_at", "name_to_handle_at"),
  ...always("set the host clock", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex"),
  ...always("raw I/O ports and 16-bit segments: x86 legacy with a history of kernel bugs", "iopl", "ioperm", "modify_ldt"),
  ...always("move memory of other processes between NUMA nodes (mbind/set_mempolicy on one's own memory stay allowed)", "migrate_pages", "move_pages"),
  {
    syscall: "socket",
    when: "socket-family",
    why: "only AF_UNIX, AF_INET, AF_INET6 (no SOCK_RAW/SOCK_PACKET) and AF_NETLINK/NETLINK_ROUTE (getifaddrs); no packet, vsock, bluetooth, alg, ...",
  },
  { syscall: "socketpair", when: "socket-family", why: "same families as socket" },
  { syscall: "ioctl", when: "ioctl-command", why: "TIOCSTI pushes input into a terminal, TIOCLINUX can too (and read the console)" },
  // A set-id file made in the workspace (a copy of any program, chmod 6755) is a set-id program on
  // the host, owned by the sandbox's uid: nosuid applies only to the sandbox's own mounts.
  ...(["chmod", "fchmod", "creat", "mknod"] as const).map((syscall) => ({ syscall, when: "setid-mode-arg1" as const, why: "setting S_ISUID/S_ISGID plants a set-id program on the host" })),
  ...(["fchmodat", "fchmodat2", "mknodat"] as const).map((syscall) => ({ syscall, when: "setid-mode-arg2" as const, why: "setting S_ISUID/S_ISGID plants a set-id program on the host" })),
  { syscall: "open", when: "setid-create-arg1", why: "creating a file with S_ISUID/S_ISGID plants a set-id program on the host" },
  { syscall: "openat", when: "setid-create-arg2", why: "creating a file with S_ISUID/S_ISGID plants a set-id program on the host" },
  { syscall: "openat2", when: "enosys", why: "its mode is behind a pointer the filter cannot read; ENOSYS makes callers fall back to openat" },
];

/** Builds the filter for `arch` (see the module comment for its shape). */
export function buildSeccompFilter(arch: Arch): SockFilter[] {
  const b = new BpfBuilder();
  const argCheck = (check: ArgCheck): string => `check:${check}`;

  b.load(SECCOMP_DATA.arch).jeq(AUDIT_ARCH[arch], NEXT, "kill");
  b.load(SECCOMP_DATA.nr);
  if (arch === "x86_64") b.jge(X32_SYSCALL_BIT, "eperm");
  const checks = new Set<ArgCheck>();
  for (const rule of SECCOMP_RULES) {
    const nr = syscallNumber(arch, rule.syscall);
    if (nr === null) continue;
    if (rule.when === "eperm" || rule.when === "enosys") {
      b.jeq(nr, rule.when);
    } else {
      b.jeq(nr, argCheck(rule.when));
      checks.add(rule.when);
    }
  }
  b.ret(SECCOMP_RET.ALLOW);

  if (checks.has("clone-namespaces")) {
    b.label(argCheck("clone-namespaces")).load(SECCOMP_DATA.argLow(0)).jset(CLONE_NEW_FLAGS, "eperm", "allow");
  }
  if (checks.has("socket-family")) {
    b.label(argCheck("socket-family")).load(SECCOMP_DATA.argLow(0));
    b.jeq(AF.UNIX, "allow").jeq(AF.INET, "socket:inet").jeq(AF.INET6, "socket:inet").jeq(AF.NETLINK, "socket:netlink", "eperm");
    b.label("socket:inet").load(SECCOMP_DATA.argLow(1)).and(SOCK.TYPE_MASK);
    b.jeq(SOCK.RAW, "eperm").jeq(SOCK.PACKET, "eperm", "allow");
    b.label("socket:netlink").load(SECCOMP_DATA.argLow(2)).jeq(NETLINK_ROUTE, "allow", "eperm");
  }
  if (checks.has("ioctl-command")) {
    b.label(argCheck("ioctl-command")).load(SECCOMP_DATA.argLow(1));
    b.jeq(TIOCSTI, "eperm").jeq(TIOCLINUX, "eperm", "allow");
  }
  if (checks.has("personality")) {
    b.label(argCheck("personality")).load(SECCOMP_DATA.argLow(0));
    for (const p of ALLOWED_PERSONALITIES) b.jeq(p, "allow");
    b.ret(SECCOMP_RET.ERRNO | EPERM);
  }

  for (const [check, arg] of [["setid-mode-arg1", 1], ["setid-mode-arg2", 2]] as const) {
    if (checks.has(check)) b.label(argCheck(check)).load(SECCOMP_DATA.argLow(arg)).jset(SETID_BITS, "eperm", "allow");
  }
  for (const [check, flags] of [["setid-create-arg1", 1], ["setid-create-arg2", 2]] as const) {
    if (!checks.has(check)) continue;
    b.label(argCheck(check)).load(SECCOMP_DATA.argLow(flags)).jset(CREATE_FLAGS, NEXT, "allow");
    b.load(SECCOMP_DATA.argLow(flags + 1)).jset(SETID_BITS, "eperm", "allow");
  }

  b.label("allow").ret(SECCOMP_RET.ALLOW);
  b.label("eperm").ret(SECCOMP_RET.ERRNO | EPERM);
  b.label("enosys").ret(SECCOMP_RET.ERRNO | ENOSYS);
  b.label("kill").ret(SECCOMP_RET.KILL_PROCESS);
  return b.assemble();
}

/**
 * The filter as a `struct sock_filter[]` buffer, ready for `seccomp(2)` or for
 * `bwrap --seccomp FD` (which takes exactly these bytes). Defaults to this machine's architecture.
 */
export function seccompProgram(arch: Arch | null = hostArch()): Buffer {
  if (arch === null) throw new Error(`mcpw has no seccomp filter for the architecture ${process.arch}`);
  return serialize(buildSeccompFilter(arch));
}
