import t from "tap";
import { BpfAssemblyError, BpfBuilder, deserialize, disassemble, NEXT, run, serialize, validate } from "../../native/bpf.js";

t.test("labels resolve to forward offsets, and the interpreter follows them", (t) => {
  const prog = new BpfBuilder().load(0).jeq(7, "seven").jgt(100, "big", NEXT).ret(1).label("seven").ret(2).label("big").ret(3).assemble();
  t.same(prog[1], { code: 0x15, k: 7, jt: 2, jf: 0 });
  t.equal(run(prog, { nr: 7, arch: 0 }), 2);
  t.equal(run(prog, { nr: 500, arch: 0 }), 3);
  t.equal(run(prog, { nr: 1, arch: 0 }), 1);
  t.match(disassemble(prog), /1: jeq 0x7 \? 4 : 2/);
  t.end();
});

t.test("jset, jge, and, and arguments as seccomp_data words", (t) => {
  const prog = new BpfBuilder().load(16).and(0xf).jeq(3, "three").load(20).jset(0x80000000, "high").jge(5, "ge5").ret(0).label("three").ret(3).label("high").ret(4).label("ge5").ret(5).assemble();
  t.equal(run(prog, { nr: 0, arch: 0, args: [0x803n] }), 3, "low word masked");
  t.equal(run(prog, { nr: 0, arch: 0, args: [0x8000000000000001n] }), 4, "high word read at offset 20");
  t.equal(run(prog, { nr: 0, arch: 0, args: [6n << 32n] }), 5);
  t.equal(run(prog, { nr: 0, arch: 0, args: [1n] }), 0);
  t.end();
});

t.test("the assembler refuses what the kernel would refuse", (t) => {
  t.throws(() => new BpfBuilder().jeq(1, "nowhere").ret(0).assemble(), BpfAssemblyError, "undefined label");
  t.throws(() => new BpfBuilder().label("a").ret(0).jeq(1, "a").ret(0).assemble(), /backwards/);
  const far = new BpfBuilder().load(0).jeq(1, "end");
  for (let i = 0; i < 300; i++) far.ret(0);
  t.throws(() => far.label("end").ret(1).assemble(), /more than 255/, "conditional jumps are 8-bit");
  const farJa = new BpfBuilder().ja("end");
  for (let i = 0; i < 300; i++) farJa.ret(0);
  t.doesNotThrow(() => farJa.label("end").ret(1).assemble(), "ja has a 32-bit offset");
  t.throws(() => new BpfBuilder().label("x").label("x"), /twice/);
  t.match(validate([{ code: 0x20, jt: 0, jf: 0, k: 0 }]), /does not end with a return/);
  t.match(validate([{ code: 0x20, jt: 0, jf: 0, k: 64 }, { code: 6, jt: 0, jf: 0, k: 0 }]), /outside seccomp_data/);
  t.match(validate([{ code: 0x15, jt: 5, jf: 0, k: 0 }, { code: 6, jt: 0, jf: 0, k: 0 }]), /leaves the program/);
  t.match(validate([{ code: 0x07, jt: 0, jf: 0, k: 0 }, { code: 6, jt: 0, jf: 0, k: 0 }]), /unsupported code/);
  t.match(validate([]), /0 instructions/);
  t.end();
});

t.test("serialisation is 8 little-endian bytes per instruction and round-trips", (t) => {
  const prog = new BpfBuilder().load(4).jeq(0xc000003e, NEXT, "kill").ret(0x7fff0000).label("kill").ret(0x80000000).assemble();
  const buf = serialize(prog);
  t.equal(buf.length, 32);
  t.same([...buf.subarray(8, 16)], [0x15, 0x00, 0x00, 0x01, 0x3e, 0x00, 0x00, 0xc0], "code u16, jt, jf, k u32");
  t.same(deserialize(buf), prog);
  t.throws(() => deserialize(Buffer.alloc(9)), /multiple of 8/);
  t.end();
});
