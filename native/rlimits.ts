/**
 * Resource limits for the sandboxed process (inherited across fork and execve).
 *
 * Memory: RLIMIT_DATA by default, not RLIMIT_AS. Measured here (Node 20, x86-64): V8 reserves large
 * PROT_NONE ranges up front, so `node -e 1` aborts with "Failed to reserve virtual memory for
 * CodeRange" under RLIMIT_AS <= 512 MiB (and hung at 128 MiB), starts from 1 GiB, and needs ~12 GiB
 * before `new WebAssembly.Memory()` works (wasm reserves guard regions). RLIMIT_DATA counts only
 * private writable mappings, so reservations are free while every committed byte (heap, Buffers,
 * thread stacks) counts: node and python3 start and run normally at 128 MiB, and a Buffer bomb, a
 * V8 heap bomb and a python bytearray bomb all die at the limit. RLIMIT_AS is still offered
 * (`memoryKind: "as"`) for non-V8 programs. Neither limit counts shared memory (tmpfs, memfd,
 * MAP_SHARED): that needs a cgroup.
 *
 * RLIMIT_NPROC counts tasks (threads too) of the process's real uid, per user namespace; it is not
 * enforced for host uid 0 nor for CAP_SYS_RESOURCE/CAP_SYS_ADMIN in the initial namespace, so it
 * only works when the sandbox runs as an unprivileged host uid. Node needs ~8 tasks just to start
 * (it hung with 4): keep maxProcs well above that.
 *
 * RLIMIT_CPU: soft at `cpuSeconds` (SIGXCPU), hard one second later (SIGKILL) for programs that
 * catch SIGXCPU. RLIMIT_CORE is always 0 (core dumps of a sandbox land on the host).
 */
import { libc, SyscallError } from "./libc.js";

export const RLIMIT = { CPU: 0, FSIZE: 1, DATA: 2, STACK: 3, CORE: 4, RSS: 5, NPROC: 6, NOFILE: 7, MEMLOCK: 8, AS: 9 } as const;
export type RlimitName = keyof typeof RLIMIT;
export const RLIM_INFINITY = 2n ** 64n - 1n;

export interface RlimitSpec {
  memMb?: number | undefined;
  /** Which limit carries memMb (default "data", see the module comment). */
  memoryKind?: "data" | "as" | undefined;
  maxProcs?: number | undefined;
  maxFileMb?: number | undefined;
  openFiles?: number | undefined;
  cpuSeconds?: number | undefined;
}

export interface RlimitSetting {
  name: RlimitName;
  soft: bigint;
  hard: bigint;
}

const MiB = 1024n * 1024n;

/** The limits `spec` asks for, in the order they are applied (pure: no syscall). */
export function planRlimits(spec: RlimitSpec): RlimitSetting[] {
  const out: RlimitSetting[] = [{ name: "CORE", soft: 0n, hard: 0n }];
  const both = (name: RlimitName, value: bigint): void => void out.push({ name, soft: value, hard: value });
  if (spec.memMb !== undefined) both(spec.memoryKind === "as" ? "AS" : "DATA", BigInt(spec.memMb) * MiB);
  if (spec.maxProcs !== undefined) both("NPROC", BigInt(spec.maxProcs));
  if (spec.maxFileMb !== undefined) both("FSIZE", BigInt(spec.maxFileMb) * MiB);
  if (spec.openFiles !== undefined) both("NOFILE", BigInt(spec.openFiles));
  if (spec.cpuSeconds !== undefined) out.push({ name: "CPU", soft: BigInt(spec.cpuSeconds), hard: BigInt(spec.cpuSeconds) + 1n });
  return out;
}

/**
 * Applies `spec` to this process. A limit is never raised: when the current hard limit is already
 * lower, it is kept (raising it would need CAP_SYS_RESOURCE). Returns what is in force afterwards.
 */
export function applyRlimits(spec: RlimitSpec): RlimitSetting[] {
  const c = libc();
  return planRlimits(spec).map((want) => {
    const current = c.getrlimit(RLIMIT[want.name]);
    const cap = (v: bigint): bigint => (current && current.hard < v ? current.hard : v);
    const setting = { name: want.name, soft: cap(want.soft), hard: cap(want.hard) };
    if (c.setrlimit(RLIMIT[want.name], setting.soft, setting.hard) !== 0) {
      throw new SyscallError(`setrlimit(RLIMIT_${want.name})`, c.errno(), `soft ${setting.soft}, hard ${setting.hard}`);
    }
    return setting;
  });
}
