/**
 * Everything a Python snippet can leave waiting on the worker's JavaScript event loop: the timers
 * of `import js` (setTimeout, setInterval, queueMicrotask) and the callbacks of the asyncio event
 * loop (pyodide.webloop schedules each step of each task through `schedule`). Each belongs to the
 * generation it was made in; `clear()`, called by the reset, cancels all of them, destroys their
 * Python proxies (so what they hold is freed during the reset, not later) and starts a new
 * generation, so a callback of one snippet never runs during the next.
 *
 * The same holds for Pyodide's finalization registry, through which the garbage collector of
 * JavaScript releases the Python objects its proxies held: a proxy of one snippet collected during
 * a later one would run that Python object's finalizer (__del__) there. Releases of proxies made
 * in an earlier generation wait for the next `clear()` instead.
 *
 * Timers are given to Python as numbers, not Node's Timeout objects.
 */

type Callback = ((...args: unknown[]) => unknown) & { destroy?: () => void };

interface Pending {
  cancel(): void;
  fn: Callback;
}

export class SnippetTimers {
  private generation = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** `onError`: an exception out of a callback (it would otherwise end the worker). */
  constructor(private readonly onError: (e: unknown) => void) {}

  /** What `import js` offers Python. */
  globals(): Record<string, unknown> {
    return {
      setTimeout: (fn: Callback, ms?: number, ...args: unknown[]) => this.add(fn, ms, args, "timeout"),
      clearTimeout: (id: unknown) => this.cancel(id),
      setInterval: (fn: Callback, ms?: number, ...args: unknown[]) => this.add(fn, ms, args, "interval"),
      clearInterval: (id: unknown) => this.cancel(id),
      queueMicrotask: (fn: Callback) => {
        const generation = this.generation;
        if (typeof fn !== "function") throw new TypeError("queueMicrotask: the callback is not a function");
        queueMicrotask(() => {
          if (generation === this.generation) this.call(fn, []);
        });
      },
    };
  }

  /** Pyodide's scheduleCallback, for pyodide.webloop: setImmediate up to 2 ms, as Pyodide's own. */
  readonly schedule = (fn: Callback, ms = 0): void => {
    this.add(fn, ms, [], ms <= 2 ? "immediate" : "timeout");
  };

  /**
   * Ends the current generation: cancels what waits, releases what the garbage collector freed
   * of earlier generations; returns how many callbacks and releases that was.
   */
  clear(): number {
    this.generation++;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) {
      p.cancel();
      try {
        p.fn.destroy?.(); // a PyProxy or a once-callable: the Python object is released now
      } catch {
        // already destroyed (the snippet did it, or it ran)
      }
    }
    const released = this.released.splice(0);
    for (const release of released) this.call(release, []);
    return waiting.length + released.length;
  }

  private readonly released: (() => void)[] = [];

  /** A FinalizationRegistry whose callbacks for targets registered in an earlier generation wait for clear(). */
  finalizationRegistry(): typeof FinalizationRegistry {
    const timers = this;
    const Native = FinalizationRegistry;
    type Held = { generation: number; held: unknown };
    return class GenerationalFinalizationRegistry extends Native<unknown> {
      constructor(callback: (held: unknown) => void) {
        super((value) => {
          const { generation, held } = value as Held;
          if (generation === timers.generation) callback(held);
          else timers.released.push(() => callback(held));
        });
      }
      override register(target: WeakKey, held: unknown, token?: WeakKey): void {
        super.register(target, { generation: timers.generation, held } satisfies Held, token);
      }
    } as unknown as typeof FinalizationRegistry;
  }

  private add(fn: Callback, ms: number | undefined, args: unknown[], kind: "timeout" | "interval" | "immediate"): number {
    if (typeof fn !== "function") throw new TypeError("the callback is not a function");
    const id = this.nextId++;
    const generation = this.generation;
    const run = () => {
      if (kind !== "interval") this.pending.delete(id);
      if (generation === this.generation) this.call(fn, args);
    };
    const delay = Math.max(0, Number(ms) || 0);
    if (kind === "immediate") {
      const h = setImmediate(run);
      this.pending.set(id, { cancel: () => clearImmediate(h), fn });
    } else if (kind === "interval") {
      const h = setInterval(run, delay);
      this.pending.set(id, { cancel: () => clearInterval(h), fn });
    } else {
      const h = setTimeout(run, delay);
      this.pending.set(id, { cancel: () => clearTimeout(h), fn });
    }
    return id;
  }

  private cancel(id: unknown): void {
    const p = typeof id === "number" ? this.pending.get(id) : undefined;
    if (!p) return;
    this.pending.delete(id as number);
    p.cancel();
  }

  private call(fn: Callback, args: unknown[]): void {
    try {
      fn(...args);
    } catch (e) {
      this.onError(e);
    }
  }
}
