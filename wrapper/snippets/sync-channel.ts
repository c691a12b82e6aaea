/**
 * A synchronous request/answer channel from a worker to the main thread, for Python code that
 * must block (file reads, urllib): the worker posts the request and sleeps on a SharedArrayBuffer
 * with Atomics.wait; the main thread does the (asynchronous) work and writes the answer into the
 * shared buffer, then wakes it. One request at a time per worker.
 *
 * Layout: Int32 [0] state (0 idle, 1 answered), [1] answer length; bytes from offset 8.
 */

export const CHANNEL_BYTES = 32 * 1024 * 1024;
const HEADER = 8;

export interface ChannelAnswer {
  ok: boolean;
  result?: unknown;
  error?: { message: string; code: string };
}

export function newChannelBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER + CHANNEL_BYTES);
}

/** Main-thread side: writes one answer and wakes the worker. */
export function answer(buffer: SharedArrayBuffer, reply: ChannelAnswer): void {
  const ctl = new Int32Array(buffer, 0, 2);
  let bytes = Buffer.from(JSON.stringify(reply));
  if (bytes.length > CHANNEL_BYTES) {
    bytes = Buffer.from(JSON.stringify({ ok: false, error: { message: `the answer (${bytes.length} bytes) is larger than the snippet channel (${CHANNEL_BYTES} bytes)`, code: "too_large" } }));
  }
  new Uint8Array(buffer, HEADER, bytes.length).set(bytes);
  Atomics.store(ctl, 1, bytes.length);
  Atomics.store(ctl, 0, 1);
  Atomics.notify(ctl, 0);
}

/** Worker side: sends `request` with `post` and blocks until the answer is written. */
export function callSync(buffer: SharedArrayBuffer, post: (request: string) => void, request: string): ChannelAnswer {
  const ctl = new Int32Array(buffer, 0, 2);
  Atomics.store(ctl, 0, 0);
  post(request);
  while (Atomics.wait(ctl, 0, 0, 60_000) === "timed-out") {
    // The main thread ends runs that take too long; keep waiting until it answers or terminates us.
  }
  const length = Atomics.load(ctl, 1);
  const text = Buffer.from(new Uint8Array(buffer, HEADER, length)).toString("utf8");
  Atomics.store(ctl, 0, 0);
  return JSON.parse(text) as ChannelAnswer;
}
