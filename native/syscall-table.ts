/**
 * Syscall numbers for the two architectures mcpw supports, only those the seccomp filter and the
 * landlock/seccomp installers need. x86-64 numbers come from `asm/unistd_64.h`; aarch64 uses the
 * asm-generic table (`asm-generic/unistd.h`). Since Linux 5.1 (number 424) new syscalls have the
 * same number on every architecture. A test checks this table against the headers on the machine.
 */

export type Arch = "x86_64" | "aarch64";
export const ARCHES: readonly Arch[] = ["x86_64", "aarch64"];

/** `AUDIT_ARCH_*` values, as found in `seccomp_data.arch` (linux/audit.h). */
export const AUDIT_ARCH = {
  x86_64: 0xc000003e, // EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
  aarch64: 0xc00000b7, // EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
  i386: 0x40000003, // reachable from an x86-64 process through `int 0x80`
  arm: 0x40000028, // 32-bit ARM (compat) on aarch64
} as const;

/** On x86-64, x32-ABI syscalls are the x86-64 number with this bit set (same AUDIT_ARCH). */
export const X32_SYSCALL_BIT = 0x40000000;

/** `[x86_64, aarch64]`; `null` where the architecture has no such syscall. */
const TABLE = {
  ptrace: [101, 117],
  process_vm_readv: [310, 270],
  process_vm_writev: [311, 271],
  mount: [165, 40],
  umount2: [166, 39],
  pivot_root: [155, 41],
  move_mount: [429, 429],
  open_tree: [428, 428],
  open_tree_attr: [467, 467],
  fsopen: [430, 430],
  fsmount: [432, 432],
  fsconfig: [431, 431],
  fspick: [433, 433],
  mount_setattr: [442, 442],
  unshare: [272, 97],
  setns: [308, 268],
  clone: [56, 220],
  clone3: [435, 435],
  bpf: [321, 280],
  perf_event_open: [298, 241],
  keyctl: [250, 219],
  add_key: [248, 217],
  request_key: [249, 218],
  io_uring_setup: [425, 425],
  io_uring_enter: [426, 426],
  io_uring_register: [427, 427],
  kexec_load: [246, 104],
  kexec_file_load: [320, 294],
  init_module: [175, 105],
  finit_module: [313, 273],
  delete_module: [176, 106],
  userfaultfd: [323, 282],
  personality: [135, 92],
  acct: [163, 89],
  swapon: [167, 224],
  swapoff: [168, 225],
  reboot: [169, 142],
  socket: [41, 198],
  socketpair: [53, 199],
  ioctl: [16, 29],
  open_by_handle_at: [304, 265],
  name_to_handle_at: [303, 264],
  lookup_dcookie: [212, 18],
  quotactl: [179, 60],
  quotactl_fd: [443, 443],
  nfsservctl: [180, 42],
  vhangup: [153, 58],
  syslog: [103, 116],
  settimeofday: [164, 170],
  clock_settime: [227, 112],
  clock_adjtime: [305, 266],
  adjtimex: [159, 171],
  iopl: [172, null],
  ioperm: [173, null],
  modify_ldt: [154, null],
  uselib: [134, null],
  kcmp: [312, 272],
  pidfd_getfd: [438, 438],
  process_madvise: [440, 440],
  migrate_pages: [256, 238],
  move_pages: [279, 239],
  fanotify_init: [300, 262],
  chmod: [90, null],
  fchmod: [91, 52],
  fchmodat: [268, 53],
  fchmodat2: [452, 452],
  open: [2, null],
  openat: [257, 56],
  openat2: [437, 437],
  creat: [85, null],
  mknod: [133, null],
  mknodat: [259, 33],
  seccomp: [317, 277],
  close_range: [436, 436],
  landlock_create_ruleset: [444, 444],
  landlock_add_rule: [445, 445],
  landlock_restrict_self: [446, 446],
} as const satisfies Record<string, readonly [number | null, number | null]>;

export type SyscallName = keyof typeof TABLE;

/** The number of `name` on `arch`, or `null` when that architecture has no such syscall. */
export function syscallNumber(arch: Arch, name: SyscallName): number | null {
  return TABLE[name][arch === "x86_64" ? 0 : 1];
}

/** Like `syscallNumber`, but throws when the syscall does not exist on `arch`. */
export function requireSyscall(arch: Arch, name: SyscallName): number {
  const nr = syscallNumber(arch, name);
  if (nr === null) throw new Error(`syscall ${name} does not exist on ${arch}`);
  return nr;
}

export const SYSCALL_NAMES = Object.keys(TABLE) as SyscallName[];

/** The architecture of this Node process, or `null` when mcpw has no filter for it. */
export function hostArch(): Arch | null {
  if (process.arch === "x64") return "x86_64";
  if (process.arch === "arm64") return "aarch64";
  return null;
}
