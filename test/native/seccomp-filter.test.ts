/**
 * The generated programs for both architectures, checked with the BPF interpreter (aarch64 cannot
 * run here), and the syscall table checked against the kernel headers on this machine.
 */
import { existsSync, readFileSync } from "node:fs";
import t from "tap";
import { BPF, BPF_MAXINSNS, deserialize, run, validate } from "../../native/bpf.js";
import {
  ALLOWED_PERSONALITIES,
  buildSeccompFilter,
  CLONE_NEW_FLAGS,
  ENOSYS,
  EPERM,
  SECCOMP_RET,
  SECCOMP_RULES,
  seccompProgram,
} from "../../native/seccomp-filter.js";
import { ARCHES, AUDIT_ARCH, SYSCALL_NAMES, syscallNumber, X32_SYSCALL_BIT, type Arch, type SyscallName } from "../../native/syscall-table.js";

const DENY = SECCOMP_RET.ERRNO | EPERM;
const ALLOW = SECCOMP_RET.ALLOW;
/** An ordinary syscall per arch: read(2). */
const READ: Record<Arch, number> = { x86_64: 0, aarch64: 63 };
const FOREIGN: Record<Arch, number> = { x86_64: AUDIT_ARCH.i386, aarch64: AUDIT_ARCH.arm };

for (const arch of ARCHES) {
  const prog = buildSeccompFilter(arch);
  const verdict = (name: SyscallName | number, args: (number | bigint)[] = [], auditArch: number = AUDIT_ARCH[arch]) =>
    run(prog, { nr: typeof name === "number" ? name : syscallNumber(arch, name)!, arch: auditArch, args });

  t.test(`${arch}: the program is well-formed and checks the architecture first`, (t) => {
    t.equal(validate(prog), null);
    t.ok(prog.length > 50 && prog.length < BPF_MAXINSNS, `${prog.length} instructions`);
    t.same(prog[0], { code: BPF.LD_W_ABS, jt: 0, jf: 0, k: 4 }, "first: load seccomp_data.arch");
    t.equal(prog[1]!.code, BPF.JMP_JEQ_K);
    t.equal(prog[1]!.k, AUDIT_ARCH[arch] >>> 0, "second: compare with this arch's AUDIT_ARCH");
    t.equal(prog[prog.length - 1]!.code, BPF.RET_K, "ends with a return");
    t.same(deserialize(seccompProgram(arch)), prog, "the buffer is the same program");
    t.end();
  });

  t.test(`${arch}: decisions`, (t) => {
    t.equal(verdict(READ[arch]), ALLOW, "read is allowed");
    t.equal(verdict(READ[arch], [], FOREIGN[arch]), SECCOMP_RET.KILL_PROCESS, "a foreign ABI (32-bit compat) is killed");
    t.equal(verdict(READ[arch], [], 0xdeadbeef), SECCOMP_RET.KILL_PROCESS, "an unknown arch is killed");
    if (arch === "x86_64") t.equal(verdict(READ[arch] | X32_SYSCALL_BIT), DENY, "x32 numbers are refused");
    for (const rule of SECCOMP_RULES) {
      if (syscallNumber(arch, rule.syscall) === null) continue;
      if (rule.when === "eperm") t.equal(verdict(rule.syscall, [0x20000, 0, 0]), DENY, `${rule.syscall} is refused`);
      if (rule.when === "enosys") t.equal(verdict(rule.syscall), SECCOMP_RET.ERRNO | ENOSYS, `${rule.syscall} is ENOSYS`);
    }
    t.end();
  });

  t.test(`${arch}: clone is refused only with a CLONE_NEW* flag`, (t) => {
    const SIGCHLD = 17;
    const THREAD = 0x3d0f00; // VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
    t.equal(verdict("clone", [SIGCHLD]), ALLOW, "fork");
    t.equal(verdict("clone", [THREAD]), ALLOW, "pthread_create");
    t.equal(verdict("clone", [0x4111]), ALLOW, "vfork (CLONE_VM|CLONE_VFORK|SIGCHLD)");
    for (let bit = 0; bit < 32; bit++) {
      const flag = 2 ** bit;
      if (CLONE_NEW_FLAGS & flag) t.equal(verdict("clone", [flag | SIGCHLD]), DENY, `CLONE_NEW flag 0x${flag.toString(16)}`);
    }
    t.equal(verdict("clone", [0xffffffff00000000n | BigInt(SIGCHLD)]), ALLOW, "high bits are ignored, as the kernel does");
    t.end();
  });

  t.test(`${arch}: socket families and types`, (t) => {
    const socket = (domain: number, type: number, protocol = 0) => verdict("socket", [domain, type, protocol]);
    t.equal(socket(1, 1), ALLOW, "AF_UNIX stream");
    t.equal(socket(2, 1 | 0x80800), ALLOW, "AF_INET stream, NONBLOCK|CLOEXEC");
    t.equal(socket(10, 2), ALLOW, "AF_INET6 dgram");
    t.equal(socket(2, 2, 1), ALLOW, "AF_INET ICMP datagram (ping socket)");
    t.equal(socket(2, 3 | 0x80000, 1), DENY, "AF_INET raw, CLOEXEC");
    t.equal(socket(10, 3 | 0x800, 58), DENY, "AF_INET6 raw, NONBLOCK");
    t.equal(socket(2, 10), DENY, "AF_INET SOCK_PACKET");
    t.equal(socket(16, 3, 0), ALLOW, "netlink route");
    t.equal(socket(16, 2 | 0x80000, 0), ALLOW, "netlink route dgram");
    for (const proto of [9, 4, 6, 12, 15]) t.equal(socket(16, 3, proto), DENY, `netlink protocol ${proto}`);
    for (const family of [17, 38, 40, 31, 4, 3, 5, 0, 45]) t.equal(socket(family, 1), DENY, `family ${family}`);
    t.equal(verdict("socketpair", [1, 1, 0]), ALLOW, "socketpair AF_UNIX");
    t.equal(verdict("socketpair", [17, 3, 0]), DENY, "socketpair AF_PACKET");
    t.end();
  });

  t.test(`${arch}: modes with S_ISUID or S_ISGID are refused (chmod family, creating opens, mknod)`, (t) => {
    const has = (name: SyscallName) => syscallNumber(arch, name) !== null;
    const AT_FDCWD = 0xffffff9c;
    const O_WRONLY = 1;
    const O_CREAT = 0o100;
    const O_TMPFILE = 0o20200000;
    // Every call that sets a file's mode, as [what, syscall, args] for `mode`.
    const modeCalls = (mode: number | bigint): [string, SyscallName, (number | bigint)[]][] => {
      const regular = 0o100000 | Number(BigInt(mode) & 0o7777n);
      const calls: [string, SyscallName, (number | bigint)[]][] = [
        ["chmod", "chmod", [0, mode]],
        ["fchmod", "fchmod", [3, mode]],
        ["fchmodat", "fchmodat", [AT_FDCWD, 0, mode]],
        ["fchmodat2", "fchmodat2", [AT_FDCWD, 0, mode, 0]],
        ["openat O_CREAT", "openat", [AT_FDCWD, 0, O_CREAT | O_WRONLY, mode]],
        ["openat O_TMPFILE", "openat", [AT_FDCWD, 0, O_TMPFILE | O_WRONLY, mode]],
        ["mknodat S_IFREG", "mknodat", [AT_FDCWD, 0, regular, 0]],
        ["open O_CREAT", "open", [0, O_CREAT | O_WRONLY, mode]],
        ["creat", "creat", [0, mode]],
        ["mknod", "mknod", [0, regular, 0]],
      ];
      // The legacy calls exist on x86-64 only; every other one must be in the table.
      const legacy: SyscallName[] = ["chmod", "open", "creat", "mknod"];
      return calls.filter(([, name]) => !legacy.includes(name) || has(name));
    };
    const expectModes = (modes: (number | bigint)[], want: number) => {
      for (const mode of modes) {
        for (const [what, name, args] of modeCalls(mode)) t.equal(verdict(name, args), want, `${what} ${mode.toString(8)}`);
      }
    };
    expectModes([0o4755, 0o2755, 0o6755, 0o104755, 0x1_0000_4755n], DENY);
    expectModes([0o755, 0o1777, 0o644, 0], ALLOW);
    // Without O_CREAT or O_TMPFILE the mode argument is ignored by the kernel (it may hold anything).
    t.equal(verdict("openat", [AT_FDCWD, 0, 0, 0o6755]), ALLOW, "openat O_RDONLY with a junk mode");
    if (has("open")) t.equal(verdict("open", [0, O_WRONLY, 0o4755]), ALLOW, "open O_WRONLY with a junk mode");
    t.equal(verdict("openat2", [AT_FDCWD, 0, 0, 24]), SECCOMP_RET.ERRNO | ENOSYS, "openat2 (mode behind a pointer) is ENOSYS");
    t.end();
  });

  t.test(`${arch}: ioctl and personality`, (t) => {
    t.equal(verdict("ioctl", [0, 0x5412]), DENY, "TIOCSTI");
    t.equal(verdict("ioctl", [0, 0x541c]), DENY, "TIOCLINUX");
    t.equal(verdict("ioctl", [0, 0x1_0000_5412n]), DENY, "TIOCSTI with junk in the high word (the kernel takes the low 32 bits)");
    t.equal(verdict("ioctl", [0, 0x5401]), ALLOW, "TCGETS");
    t.equal(verdict("ioctl", [0, 0x541b]), ALLOW, "FIONREAD");
    for (const p of ALLOWED_PERSONALITIES) t.equal(verdict("personality", [p]), ALLOW, `personality 0x${p.toString(16)}`);
    for (const p of [0x400000, 0x100000, 0x40000, 0x0800000, 0x1]) t.equal(verdict("personality", [p]), DENY, `personality 0x${p.toString(16)}`);
    t.end();
  });
}

/** `__NR_x` numbers from a kernel header (following `#define __NR_fcntl __NR3264_fcntl`). */
function headerNumbers(path: string): Map<string, number> {
  const raw = new Map<string, string>();
  for (const m of readFileSync(path, "utf8").matchAll(/#define (__NR(?:3264)?_\w+)\s+(\w+)/g)) raw.set(m[1]!, m[2]!);
  const out = new Map<string, number>();
  for (const [macro, v] of raw) {
    let value = v;
    while (raw.has(value)) value = raw.get(value)!;
    if (macro.startsWith("__NR_") && /^\d+$/.test(value)) out.set(macro.slice("__NR_".length), Number(value));
  }
  return out;
}

const HEADERS: Record<Arch, string> = {
  x86_64: "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
  aarch64: "/usr/include/asm-generic/unistd.h",
};
for (const arch of ARCHES) {
  t.test(`${arch}: the syscall table agrees with ${HEADERS[arch]}`, { skip: existsSync(HEADERS[arch]) ? false : "header not installed" }, (t) => {
    const header = headerNumbers(HEADERS[arch]);
    let checked = 0;
    for (const name of SYSCALL_NAMES) {
      const ours = syscallNumber(arch, name);
      if (!header.has(name)) {
        t.ok(ours === null || ours >= 424, `${name} is not in the header: ${ours === null ? "absent here too" : "newer than the header"}`);
        continue;
      }
      t.equal(ours, header.get(name), `${name}`);
      checked++;
    }
    t.ok(checked > 55, `${checked} numbers checked`);
    t.end();
  });
}
