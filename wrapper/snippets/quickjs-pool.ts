import { newQuickJSWASMModule, type QuickJSContext, type QuickJSRuntime, type QuickJSWASMModule } from "quickjs-emscripten";
import { QUICKJS_PRELUDE } from "./quickjs-prelude.js";

/**
 * Ready QuickJS runtimes, each with a fresh context whose prelude has already run. A runtime serves
 * exactly one snippet and is then disposed: nothing a snippet leaves behind (globals, prototypes,
 * pending jobs) can reach the next one. Taking one schedules a replacement in the background
 * (setImmediate), so a call pays only for binding its session.
 *
 * The host functions are installed once per context and reach the current call through
 * `bind`, which the runner sets when it takes the runtime.
 *
 * All runtimes of a generation share one wasm module instance (cheap: ~10 ms to make). A runtime
 * that failed in a way that leaves QuickJS inconsistent (out of memory, or the host's own stack
 * overflowing inside wasm) is not freed — QuickJS would abort the whole module on its leak check —
 * but RETIRED with its module: the pool drops every runtime of that generation and starts a new one.
 */

export interface HostBindings {
  write(fd: 1 | 2, text: string): void;
  info(): string;
  exit(code: number): void;
  fetch(ctx: QuickJSContext, request: string, body: ArrayBuffer | string | undefined): ReturnType<QuickJSContext["newPromise"]>["handle"];
  fs(ctx: QuickJSContext, op: string, data?: ArrayBuffer | string): ReturnType<QuickJSContext["newPromise"]>["handle"];
  /** UTF-8 bytes as text (Response.text()); throws (a snippet error) when too large for the run. */
  decode(bytes: Uint8Array): string;
  /** Polled by the interrupt handler: true ends the run (uncatchable in QuickJS). */
  shouldStop(): boolean;
}

export interface ReadyRuntime {
  module: QuickJSWASMModule;
  runtime: QuickJSRuntime;
  context: QuickJSContext;
  /** Set by the runner for the one call this runtime serves. */
  bind: HostBindings | null;
}

function unbound(): never {
  throw new Error("this QuickJS runtime is not bound to a call");
}

export function createReadyRuntime(module: QuickJSWASMModule): ReadyRuntime {
  const runtime = module.newRuntime();
  const context = runtime.newContext();
  const ready: ReadyRuntime = { module, runtime, context, bind: null };
  const b = () => ready.bind ?? unbound();
  // Unbound (the prelude, or after the call): nothing to stop.
  runtime.setInterruptHandler(() => ready.bind?.shouldStop() ?? false);
  const host = context.newObject();
  const define = (name: string, fn: Parameters<QuickJSContext["newFunction"]>[1]) => {
    const f = context.newFunction(name, fn);
    context.setProp(host, name, f);
    f.dispose();
  };
  const body = (h: { dispose(): void } | undefined) => {
    if (!h) return undefined;
    const type = context.typeof(h as never);
    return type === "string" ? context.getString(h as never) : type === "undefined" ? undefined : context.getArrayBuffer(h as never).value.slice().buffer;
  };
  define("write", (fd, text) => void b().write(context.getNumber(fd) === 2 ? 2 : 1, context.getString(text)));
  define("info", () => context.newString(b().info()));
  define("exit", (code) => void b().exit(context.getNumber(code)));
  define("fetch", (request, data) => b().fetch(context, context.getString(request), body(data)));
  define("decode", (data) => context.newString(b().decode(context.getArrayBuffer(data).value)));
  define("fs", (op) => b().fs(context, context.getString(op)));
  define("fsWrite", (op, data) => b().fs(context, context.getString(op), body(data)));
  context.setProp(context.global, "__mcpw", host);
  host.dispose();
  const prelude = context.evalCode(QUICKJS_PRELUDE, "mcpw-prelude.js");
  if (prelude.error) {
    const why = context.dump(prelude.error);
    prelude.error.dispose();
    throw new Error(`the QuickJS prelude failed: ${JSON.stringify(why)}`);
  }
  prelude.value.dispose();
  return ready;
}

export class QuickJsPool {
  private ready: ReadyRuntime[] = [];
  private module: QuickJSWASMModule | null;
  private nextModule: Promise<QuickJSWASMModule> | null = null;
  private refilling = false;
  private closed = false;
  /** Generations retired so far (a test and operator aid). */
  retired = 0;

  private constructor(
    module: QuickJSWASMModule,
    readonly size: number,
  ) {
    this.module = module;
  }

  static async create(size: number): Promise<QuickJsPool> {
    const pool = new QuickJsPool(await newQuickJSWASMModule(), size);
    pool.fill();
    return pool;
  }

  /** A ready runtime; made on the spot if the pool is empty. */
  async take(): Promise<ReadyRuntime> {
    const r = this.ready.shift() ?? createReadyRuntime(this.module ?? (await this.replacement()));
    this.scheduleRefill();
    return r;
  }

  get available(): number {
    return this.ready.length;
  }

  /** Gives up `r` without freeing it, and with it its module and every runtime made from it. */
  retire(r: ReadyRuntime): void {
    r.bind = null;
    if (this.module !== r.module) return;
    this.retired++;
    this.module = null;
    this.ready = this.ready.filter((x) => x.module !== r.module);
    void this.replacement().then(() => this.scheduleRefill());
  }

  private replacement(): Promise<QuickJSWASMModule> {
    this.nextModule ??= newQuickJSWASMModule().then((m) => {
      this.module = m;
      this.nextModule = null;
      return m;
    });
    return this.nextModule;
  }

  private fill(): void {
    while (!this.closed && this.module && this.ready.length < this.size) this.ready.push(createReadyRuntime(this.module));
  }

  private scheduleRefill(): void {
    if (this.refilling || this.closed) return;
    this.refilling = true;
    setImmediate(() => {
      this.refilling = false;
      this.fill();
    });
  }

  close(): void {
    this.closed = true;
    for (const r of this.ready.splice(0)) disposeRuntime(r);
  }
}

export function disposeRuntime(r: ReadyRuntime): void {
  r.bind = null;
  try {
    r.context.dispose();
    r.runtime.dispose();
  } catch {
    // A runtime that hit its memory limit may refuse an orderly dispose; its wasm memory is reused.
  }
}
