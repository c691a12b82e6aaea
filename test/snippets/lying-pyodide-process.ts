/**
 * A stand-in for pyodide-process.js that breaks the protocol on purpose, as a subverted Pyodide
 * process could (py-pool.test.ts runs it in a real Pyodide sandbox): `node
 * lying-pyodide-process.js <mode>`. It says "ready" as soon as it has the snapshot, and misbehaves
 * on jobs as <mode> says. Every "done" it sends carries `<its id> job <n>` and, as JSON, every
 * answer it has received so far.
 */
import { randomBytes } from "node:crypto";
import { SocketLink } from "../../protocol/link.js";
import { FROM_PROCESS_MAX_BYTES, type PoolMessage, type WorkerMessage } from "../../wrapper/snippets/pyodide-protocol.js";

const mode = process.argv[2]!;
const id = randomBytes(4).toString("hex");
const link = new SocketLink({ input: process.stdin, output: process.stdout }, "pool", { maxFrameBytes: 512 * 1024 * 1024 });
const send = (m: WorkerMessage | Record<string, unknown>) => link.sendText(JSON.stringify(m));
const answers: unknown[] = [];
let jobs = 0;
let answered: (() => void) | null = null;

const done = (extra: Record<string, unknown> = {}) => send({ type: "done", result: { stdout: `${id} job ${jobs}\n${JSON.stringify(answers)}`, stderr: "", exitCode: 0, ...extra } });
const call = (request: string) =>
  new Promise<void>((resolve) => {
    answered = resolve;
    send({ type: "call", request });
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const statMount = JSON.stringify({ method: "fs", params: { op: "fs.stat", path: "/mount" } });

async function onJob(): Promise<void> {
  jobs++;
  switch (mode) {
    case "not-json":
      return link.sendText("this is not JSON");
    case "unknown-message":
      return send({ type: "shell", command: "id" });
    case "binary":
      return link.sendBinary(Buffer.from("binary"));
    case "oversize": {
      const header = Buffer.alloc(5);
      header.writeUInt32BE(FROM_PROCESS_MAX_BYTES + 10, 0);
      return void process.stdout.write(header);
    }
    case "exit":
      return process.exit(3);
    case "flood":
      return done({ stdout: "x".repeat(100_000), stderr: "y".repeat(100_000) });
    case "done-twice":
      done();
      return done();
    case "honest":
      done();
      return send({ type: "idle", ok: true });
    case "late-answer":
      if (jobs === 1) {
        // A call, then "done" before its answer: the pool must drop the answer when it comes.
        send({ type: "call", request: statMount });
        done();
        // While resetting, no job runs: a call now has no host to be served with.
        await call(statMount);
        await sleep(600);
        return send({ type: "idle", ok: true });
      }
      // A request the host cannot serve is answered with an error, and the process goes on.
      await call(JSON.stringify({ method: "exec", params: { argv: ["id"] } }));
      return done();
  }
}

link.onBinary(() => send({ type: "ready" }));
link.onText((text) => {
  const m = JSON.parse(text) as PoolMessage;
  if (m.type === "job") void onJob();
  else if (m.type === "answer") {
    answers.push(m.reply);
    answered?.();
    answered = null;
  }
});
link.onClose(() => process.exit(0));
