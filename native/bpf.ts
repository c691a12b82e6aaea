/**
 * A tiny classic-BPF assembler for seccomp: the handful of instructions a seccomp filter uses,
 * forward jumps to named labels, serialisation to `struct sock_filter` (8 bytes each), a validator
 * with the kernel's own rules, and an interpreter so a filter for another architecture can be
 * checked on this machine.
 */

/** One `struct sock_filter`: `{u16 code; u8 jt; u8 jf; u32 k}`. */
export interface SockFilter {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export const BPF = {
  LD_W_ABS: 0x20, // A = *(u32 *)(data + k)
  ALU_AND_K: 0x54, // A &= k
  JMP_JA: 0x05, // pc += k
  JMP_JEQ_K: 0x15, // pc += (A == k) ? jt : jf
  JMP_JGT_K: 0x25, // pc += (A > k) ? jt : jf
  JMP_JGE_K: 0x35, // pc += (A >= k) ? jt : jf
  JMP_JSET_K: 0x45, // pc += (A & k) ? jt : jf
  RET_K: 0x06, // return k
} as const;

/** The kernel refuses longer programs (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;

/** Where a conditional jump goes: a label, or `NEXT` (the following instruction). */
export type Target = string | typeof NEXT;
export const NEXT = Symbol("next instruction");

type Pending =
  | { kind: "insn"; insn: SockFilter }
  | { kind: "cond"; code: number; k: number; jt: Target; jf: Target }
  | { kind: "ja"; to: string };

export class BpfAssemblyError extends Error {
  override readonly name = "BpfAssemblyError";
}

/** Builds a program; `assemble()` resolves the labels. Jumps may only go forward, as in the kernel. */
export class BpfBuilder {
  private readonly code: Pending[] = [];
  private readonly labels = new Map<string, number>();

  /** Names the position of the next instruction. */
  label(name: string): this {
    if (this.labels.has(name)) throw new BpfAssemblyError(`label ${name} defined twice`);
    this.labels.set(name, this.code.length);
    return this;
  }
  /** A = the 32-bit word at byte `offset` of `struct seccomp_data`. */
  load(offset: number): this {
    return this.push({ code: BPF.LD_W_ABS, jt: 0, jf: 0, k: offset });
  }
  and(k: number): this {
    return this.push({ code: BPF.ALU_AND_K, jt: 0, jf: 0, k });
  }
  jeq(k: number, jt: Target, jf: Target = NEXT): this {
    return this.cond(BPF.JMP_JEQ_K, k, jt, jf);
  }
  jge(k: number, jt: Target, jf: Target = NEXT): this {
    return this.cond(BPF.JMP_JGE_K, k, jt, jf);
  }
  jgt(k: number, jt: Target, jf: Target = NEXT): this {
    return this.cond(BPF.JMP_JGT_K, k, jt, jf);
  }
  /** Jumps to `jt` when any bit of `k` is set in A. */
  jset(k: number, jt: Target, jf: Target = NEXT): this {
    return this.cond(BPF.JMP_JSET_K, k, jt, jf);
  }
  /** Unconditional jump (32-bit offset, so any distance). */
  ja(to: string): this {
    this.code.push({ kind: "ja", to });
    return this;
  }
  ret(k: number): this {
    return this.push({ code: BPF.RET_K, jt: 0, jf: 0, k: k >>> 0 });
  }

  assemble(): SockFilter[] {
    const out = this.code.map((p, pc): SockFilter => {
      if (p.kind === "insn") return p.insn;
      if (p.kind === "ja") return { code: BPF.JMP_JA, jt: 0, jf: 0, k: this.offset(pc, p.to, Infinity) };
      return { code: p.code, k: p.k >>> 0, jt: this.offset(pc, p.jt, 255), jf: this.offset(pc, p.jf, 255) };
    });
    const problem = validate(out);
    if (problem) throw new BpfAssemblyError(problem);
    return out;
  }

  private push(insn: SockFilter): this {
    this.code.push({ kind: "insn", insn });
    return this;
  }
  private cond(code: number, k: number, jt: Target, jf: Target): this {
    this.code.push({ kind: "cond", code, k, jt, jf });
    return this;
  }
  private offset(pc: number, target: Target, max: number): number {
    if (target === NEXT) return 0;
    const at = this.labels.get(target);
    if (at === undefined) throw new BpfAssemblyError(`jump at ${pc} to undefined label ${target}`);
    const off = at - pc - 1;
    if (off < 0) throw new BpfAssemblyError(`jump at ${pc} to label ${target} goes backwards`);
    if (off > max) throw new BpfAssemblyError(`jump at ${pc} to label ${target} is ${off} instructions, more than ${max}`);
    return off;
  }
}

/**
 * The checks the kernel's `bpf_check_classic` and seccomp's `seccomp_check_filter` make, for the
 * instructions this assembler emits. Returns a description of the first problem, or null.
 */
export function validate(prog: readonly SockFilter[]): string | null {
  if (prog.length === 0 || prog.length > BPF_MAXINSNS) return `program has ${prog.length} instructions (1..${BPF_MAXINSNS})`;
  for (const [pc, i] of prog.entries()) {
    switch (i.code) {
      case BPF.LD_W_ABS:
        if (i.k % 4 !== 0 || i.k >= SECCOMP_DATA_SIZE) return `load at ${pc} of offset ${i.k} is outside seccomp_data`;
        break;
      case BPF.ALU_AND_K:
      case BPF.RET_K:
        break;
      case BPF.JMP_JA:
        if (pc + 1 + i.k >= prog.length) return `jump at ${pc} leaves the program`;
        break;
      case BPF.JMP_JEQ_K:
      case BPF.JMP_JGT_K:
      case BPF.JMP_JGE_K:
      case BPF.JMP_JSET_K:
        if (pc + 1 + Math.max(i.jt, i.jf) >= prog.length) return `jump at ${pc} leaves the program`;
        break;
      default:
        return `instruction ${pc} has unsupported code 0x${i.code.toString(16)}`;
    }
  }
  const last = prog[prog.length - 1]!;
  if (last.code !== BPF.RET_K) return "program does not end with a return";
  return null;
}

/** `sizeof(struct seccomp_data)`: nr, arch, instruction_pointer, args[6]. */
export const SECCOMP_DATA_SIZE = 64;

/** Byte offsets in `struct seccomp_data` (little-endian: the low word of an argument comes first). */
export const SECCOMP_DATA = {
  nr: 0,
  arch: 4,
  argLow: (i: number) => 16 + 8 * i,
  argHigh: (i: number) => 20 + 8 * i,
} as const;

/** `struct sock_filter[]` as the kernel reads it (little-endian: both supported architectures are). */
export function serialize(prog: readonly SockFilter[]): Buffer {
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((i, n) => {
    buf.writeUInt16LE(i.code, n * 8);
    buf.writeUInt8(i.jt, n * 8 + 2);
    buf.writeUInt8(i.jf, n * 8 + 3);
    buf.writeUInt32LE(i.k >>> 0, n * 8 + 4);
  });
  return buf;
}

export function deserialize(buf: Buffer): SockFilter[] {
  if (buf.length % 8 !== 0) throw new BpfAssemblyError(`a sock_filter array is a multiple of 8 bytes, got ${buf.length}`);
  const out: SockFilter[] = [];
  for (let o = 0; o < buf.length; o += 8) {
    out.push({ code: buf.readUInt16LE(o), jt: buf.readUInt8(o + 2), jf: buf.readUInt8(o + 3), k: buf.readUInt32LE(o + 4) });
  }
  return out;
}

/** What a syscall looks like to the filter. */
export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer?: bigint;
  args?: readonly (bigint | number)[];
}

/** Runs `prog` on `data` like the kernel would, and returns the filter's 32-bit verdict. */
export function run(prog: readonly SockFilter[], data: SeccompData): number {
  const mem = Buffer.alloc(SECCOMP_DATA_SIZE);
  mem.writeInt32LE(data.nr, 0);
  mem.writeUInt32LE(data.arch >>> 0, 4);
  mem.writeBigUInt64LE(data.instructionPointer ?? 0n, 8);
  (data.args ?? []).forEach((a, i) => mem.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a)), 16 + 8 * i));
  let A = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const i = prog[pc]!;
    switch (i.code) {
      case BPF.LD_W_ABS:
        A = mem.readUInt32LE(i.k);
        break;
      case BPF.ALU_AND_K:
        A = (A & i.k) >>> 0;
        break;
      case BPF.JMP_JA:
        pc += i.k;
        break;
      case BPF.JMP_JEQ_K:
        pc += A === i.k ? i.jt : i.jf;
        break;
      case BPF.JMP_JGT_K:
        pc += A > i.k ? i.jt : i.jf;
        break;
      case BPF.JMP_JGE_K:
        pc += A >= i.k ? i.jt : i.jf;
        break;
      case BPF.JMP_JSET_K:
        pc += (A & i.k) !== 0 ? i.jt : i.jf;
        break;
      case BPF.RET_K:
        return i.k >>> 0;
      default:
        throw new BpfAssemblyError(`cannot run code 0x${i.code.toString(16)} at ${pc}`);
    }
  }
  throw new BpfAssemblyError("program ran off its end");
}

const MNEMONIC: Record<number, string> = {
  [BPF.LD_W_ABS]: "ld",
  [BPF.ALU_AND_K]: "and",
  [BPF.JMP_JA]: "ja",
  [BPF.JMP_JEQ_K]: "jeq",
  [BPF.JMP_JGT_K]: "jgt",
  [BPF.JMP_JGE_K]: "jge",
  [BPF.JMP_JSET_K]: "jset",
  [BPF.RET_K]: "ret",
};

/** One line per instruction, with absolute jump targets, for reading a filter. */
export function disassemble(prog: readonly SockFilter[]): string {
  return prog
    .map((i, pc) => {
      const m = MNEMONIC[i.code] ?? `0x${i.code.toString(16)}`;
      const k = `0x${i.k.toString(16)}`;
      if (i.code === BPF.LD_W_ABS) return `${pc}: ld [${i.k}]`;
      if (i.code === BPF.JMP_JA) return `${pc}: ja ${pc + 1 + i.k}`;
      if (i.code === BPF.RET_K || i.code === BPF.ALU_AND_K) return `${pc}: ${m} ${k}`;
      return `${pc}: ${m} ${k} ? ${pc + 1 + i.jt} : ${pc + 1 + i.jf}`;
    })
    .join("\n");
}
