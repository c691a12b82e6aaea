/**
 * The program inside a Pyodide sandbox (pyodide-sandbox.ts starts it under bubblewrap, seccomp,
 * landlock and rlimits, with no network and nothing of the host but the read-only runtime):
 *
 *     node --disallow-code-generation-from-strings /opt/mcpw/dist/wrapper/snippets/pyodide-process.js
 *
 * It hosts one Pyodide worker thread (pyodide-worker.ts) and relays between it and the pool over
 * stdin and stdout, in SocketLink frames (pyodide-protocol.ts):
 *
 * - in: "init" (the worker starts loading) and the snapshot (handed to it); a job (posted to the worker); the answer to
 *   the worker's call (written into the channel buffer it waits on); "interrupt" (the interrupt
 *   buffer, so Python raises KeyboardInterrupt);
 * - out: what the worker posts, as it comes (ready, call, done, idle, failed).
 *
 * The shared buffers stay in this process. stdout carries frames only: the worker's console output
 * goes to stderr. When the worker exits, so does this process; when the pool closes stdin, too.
 */
import { Console } from "node:console";
import { Worker } from "node:worker_threads";
import { SocketLink } from "../../protocol/link.js";
import { cutText } from "./output-cap.js";
import { FAILED_MESSAGE_BYTES, FROM_PROCESS_MAX_BYTES, TO_PROCESS_MAX_BYTES, type PoolMessage, type PyJobResult, type WorkerInit, type WorkerMessage, type WorkerSnapshot } from "./pyodide-protocol.js";
import { answer, newChannelBuffer } from "./sync-channel.js";

globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });

const link = new SocketLink({ input: process.stdin, output: process.stdout }, "pool", { maxFrameBytes: TO_PROCESS_MAX_BYTES });
const control = new SharedArrayBuffer(8);
const interrupt = new Int32Array(control, 0, 2);
const channel = newChannelBuffer();
let worker: Worker | null = null;
let callPending = false;

/** Passes a worker message on; one too large for the pool is answered or replaced here. */
function send(m: WorkerMessage): void {
  if (m.type === "failed") m = { type: "failed", message: cutText(m.message, FAILED_MESSAGE_BYTES) };
  const text = JSON.stringify(m);
  const bytes = Buffer.byteLength(text);
  if (bytes <= FROM_PROCESS_MAX_BYTES) return link.sendText(text);
  const tooLarge = `is larger than the snippet channel (${bytes} > ${FROM_PROCESS_MAX_BYTES} bytes)`;
  if (m.type === "call") {
    callPending = false;
    answer(channel, { ok: false, error: { message: `the request ${tooLarge}`, code: "too_large" } });
  } else if (m.type === "done") {
    const result: PyJobResult = { stdout: "", stderr: `[mcpw: the snippet's result ${tooLarge}]\n`, exitCode: 1, fatal: true };
    link.sendText(JSON.stringify({ type: "done", result } satisfies WorkerMessage));
  }
}

/** Starts the worker; it loads its modules while the snapshot is still on its way. */
function start(mounts: string[]): void {
  const init: WorkerInit = { control, channel, mounts };
  worker = new Worker(new URL("./pyodide-worker.js", import.meta.url), { workerData: init, resourceLimits: { maxOldGenerationSizeMb: 512, stackSizeMb: 16 }, stdout: true, stderr: true });
  worker.stdout.pipe(process.stderr);
  worker.stderr.pipe(process.stderr);
  worker.on("message", (m: WorkerMessage) => {
    if (m.type === "call") callPending = true;
    send(m);
  });
  // Node emits every message the worker sent before "exit", not before "error": an answer the
  // worker posted just before it died (os._exit, a fatal error it reported) goes first, then
  // "failed", and the process exits once stdout (a pipe: written asynchronously) has taken both.
  let failure: Error | null = null;
  worker.on("error", (e) => (failure = e));
  worker.on("exit", (code) => {
    if (failure) send({ type: "failed", message: failure.stack ?? failure.message });
    process.stderr.write(`pyodide process: the worker exited (${code})\n`);
    process.stdout.write("", () => process.exit(1));
  });
}

/** The pool said something out of turn: it is trusted, so this is a bug; end loudly. */
function fail(what: string): never {
  process.stderr.write(`pyodide process: ${what}\n`);
  process.exit(2);
}

link.onText((text) => {
  const m = JSON.parse(text) as PoolMessage;
  switch (m.type) {
    case "init":
      if (worker !== null) return fail("a second init");
      return start(m.mounts);
    case "job":
      return void worker?.postMessage(m.job);
    case "answer":
      if (!callPending) return;
      callPending = false;
      return answer(channel, m.reply);
    case "interrupt":
      Atomics.store(interrupt, 1, 1); // why: the time is up
      Atomics.store(interrupt, 0, 2); // SIGINT
      return;
  }
});
let snapshotSent = false;
link.onBinary((snapshot) => {
  if (worker === null || snapshotSent) return fail("a snapshot out of turn");
  snapshotSent = true;
  // Handed over, not copied, when the bytes have their own buffer (a large frame does).
  const own = snapshot.byteOffset === 0 && snapshot.byteLength === snapshot.buffer.byteLength;
  const bytes = own ? snapshot : new Uint8Array(snapshot);
  worker.postMessage({ snapshot: bytes } satisfies WorkerSnapshot, [bytes.buffer as ArrayBuffer]);
});
link.onClose(() => process.exit(0));
