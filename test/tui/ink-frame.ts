import { EventEmitter } from "node:events";
import { setImmediate as tick } from "node:timers/promises";
import { createElement, type ReactElement } from "react";
import { render } from "ink";
import { InputContext, StoreContext } from "../../client/tui/hooks.js";
import type { TuiState, TuiStore } from "../../client/tui/store.js";
import { stripAnsi } from "../helpers/pty-app.js";

/**
 * A component rendered by ink on a make-believe terminal of `columns`x`rows`, for tests of one
 * view or widget without a server: `frame` is what the terminal would show (colours and inverse
 * dropped), one string per row; `press` types keys as a terminal would send them.
 */
export class InkFrame {
  private readonly frames: string[] = [];
  private readonly input: string[] = [];
  private readonly stdin = Object.assign(new EventEmitter(), {
    isTTY: true,
    setEncoding: () => undefined,
    setRawMode: () => undefined,
    ref: () => undefined,
    unref: () => undefined,
    read: () => this.input.shift() ?? null,
  });
  private readonly app;

  constructor(node: ReactElement, columns: number, rows = 24) {
    const stdout = Object.assign(new EventEmitter(), { columns, rows, isTTY: true, write: (s: string) => this.frames.push(s) > 0 });
    this.app = render(node, {
      stdout: stdout as unknown as NodeJS.WriteStream,
      stdin: this.stdin as unknown as NodeJS.ReadStream,
      debug: true,
      patchConsole: false,
      exitOnCtrlC: false,
    });
  }

  /** The last frame drawn (not the cursor hiding ink writes on its own). */
  get frame(): string[] {
    const last = this.frames.filter((f) => !/^\x1b\[\?25[lh]$/.test(f)).at(-1) ?? "";
    return stripAnsi(last).split("\n");
  }

  /** Types `keys` (one read), then lets promises settle (a submit that fails, a store call). */
  async press(keys: string): Promise<string[]> {
    await tick(); // effects (ink's key listeners among them) run after a render
    this.input.push(keys);
    this.stdin.emit("readable");
    await tick();
    await tick();
    return this.frame;
  }

  unmount(): void {
    this.app.unmount();
  }
}

/** Renders once and returns the frame. */
export function renderFrame(node: ReactElement, columns: number, rows = 24): string[] {
  const app = new InkFrame(node, columns, rows);
  const frame = app.frame;
  app.unmount();
  return frame;
}

/** A store that serves `state` (online, no flash, nothing listed unless given) and `calls` for store.call. */
export function fakeStore(state: Partial<TuiState> = {}, calls: Record<string, (params: unknown) => unknown> = {}): TuiStore {
  const full: TuiState = {
    url: "ws://127.0.0.1:7800",
    link: { status: "online" },
    server: { version: "0", env: "dev" },
    sandboxes: [],
    stats: {},
    selectedEnv: "dev",
    bridges: [],
    tokens: [],
    audit: [],
    logs: {},
    flash: null,
    ...state,
  };
  const store = {
    ui: new Map<string, unknown>(),
    subscribe: () => () => undefined,
    getState: () => full,
    flash: () => undefined,
    clearFlash: () => undefined,
    act: async () => undefined,
    openLogs: async () => undefined,
    refreshSandboxes: async () => undefined,
    refreshTokens: async () => undefined,
    call: async (method: string, params: unknown) => {
      const handler = calls[method];
      if (!handler) throw new Error(`no fake for ${method}`);
      return handler(params);
    },
  };
  return store as unknown as TuiStore;
}

/** `node` inside the store's context, as App puts a view. */
export function withStore(store: TuiStore, node: ReactElement): ReactElement {
  return createElement(StoreContext.Provider, { value: store }, createElement(InputContext.Provider, { value: true }, node));
}

/** The rows as one text (rows joined with a space, runs of spaces as one): a wrapped message reads whole. */
export function joined(frame: string[]): string {
  return frame.map((r) => r.trim()).join(" ").replace(/\s+/g, " ");
}
