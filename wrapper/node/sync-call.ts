import { MessageChannel, receiveMessageOnPort, Worker, workerData, type MessagePort } from "node:worker_threads";
import { ChannelClient, ChannelError, type ErrorBody } from "./channel-client.js";

/**
 * Synchronous requests over the channel, for fs.*Sync on bridge-served paths. A worker thread owns
 * its own channel connection; the calling thread posts the request and blocks in Atomics.wait until
 * the worker has the answer, then takes it with receiveMessageOnPort (the approach of `synckit`).
 */

const SYNC_TIMEOUT_MS = 120_000;

interface WorkerInit {
  mcpwSyncWorker: true;
  channelDir: string;
  port: MessagePort;
  signal: SharedArrayBuffer;
}

type Reply = { result: unknown } | { error: ErrorBody };

export class SyncCaller {
  private port: MessagePort | null = null;
  private signal: Int32Array | null = null;

  constructor(
    private readonly channelDir: string,
    /** The script the worker runs: this bundle itself, which starts the worker loop when it sees its workerData. */
    private readonly script: string,
  ) {}

  call<T = unknown>(method: string, params: unknown): T {
    if (!this.port) this.startWorker();
    Atomics.store(this.signal!, 0, 0);
    this.port!.postMessage({ method, params });
    if (Atomics.wait(this.signal!, 0, 0, SYNC_TIMEOUT_MS) === "timed-out") {
      throw new ChannelError({ code: "timeout", message: `mcpw: no answer to ${method} within ${SYNC_TIMEOUT_MS} ms`, errno: "ETIMEDOUT" });
    }
    const msg = receiveMessageOnPort(this.port!);
    if (!msg) throw new ChannelError({ code: "internal", message: "mcpw: the sync worker woke without an answer" });
    const reply = msg.message as Reply;
    if ("error" in reply) throw new ChannelError(reply.error);
    return reply.result as T;
  }

  private startWorker(): void {
    const { port1, port2 } = new MessageChannel();
    const signal = new SharedArrayBuffer(4);
    const init: WorkerInit = { mcpwSyncWorker: true, channelDir: this.channelDir, port: port2, signal };
    const worker = new Worker(this.script, { workerData: init, transferList: [port2], stdout: false, stderr: false });
    worker.unref();
    port1.unref();
    this.port = port1;
    this.signal = new Int32Array(signal);
  }
}

/** True inside the sync worker (then the preload must not install interceptors). */
export function isSyncWorker(): boolean {
  return Boolean((workerData as Partial<WorkerInit> | null)?.mcpwSyncWorker);
}

/** The worker's loop: answer each request over its own channel connection. */
export function runSyncWorker(): void {
  const g = globalThis as { __mcpwSyncWorker?: boolean };
  if (g.__mcpwSyncWorker) return; // the preload and the worker's main script are the same bundle
  g.__mcpwSyncWorker = true;
  const init = workerData as WorkerInit;
  const client = new ChannelClient(init.channelDir);
  const signal = new Int32Array(init.signal);
  init.port.on("message", (req: { method: string; params: unknown }) => {
    const reply = (r: Reply) => {
      init.port.postMessage(r);
      Atomics.store(signal, 0, 1);
      Atomics.notify(signal, 0);
    };
    client.request(req.method, req.params).then(
      (result) => reply({ result }),
      (e: unknown) => reply({ error: e instanceof ChannelError ? e.body : { code: "io_error", message: (e as Error).message, errno: (e as NodeJS.ErrnoException).code ?? "EIO" } }),
    );
  });
}
