import type { AuditEntry, BridgeInfo, EventData, LogLine, MethodName, ParamsInput, Result, SandboxInfo, SandboxStats, TokenInfo } from "../../protocol/methods.js";
import { McpwError } from "../../protocol/errors.js";
import { describeError } from "../command.js";
import type { ServerConnection } from "../server-connection.js";
import { Reconnector, type LinkState, type ReconnectorOptions } from "./connection.js";

/** The server keeps this many audit entries in memory; the TUI keeps as many, so filters see them all. */
const AUDIT_KEEP = 2000;
const LOG_KEEP = 2000;
const FLASH_MS = 8000;
const POLL = { statsMs: 2000, bridgesMs: 5000, tokensMs: 10_000 };

export interface Flash {
  text: string;
  kind: "info" | "error";
}

export interface TuiState {
  url: string;
  link: LinkState;
  server: { version: string; env: string } | null;
  sandboxes: SandboxInfo[];
  stats: Record<string, SandboxStats>;
  selectedEnv: string | null;
  bridges: BridgeInfo[];
  tokens: TokenInfo[];
  /** Oldest first. */
  audit: AuditEntry[];
  /** Per sandbox, once its logs have been opened; kept up to date from then on. */
  logs: Record<string, LogLine[]>;
  flash: Flash | null;
}

type Listener = () => void;

/**
 * Everything the TUI shows, kept current from the server: a first load on each connection, then
 * the subscribed events (sandbox.state, sandbox.log, audit.entry, bridges.changed) and a modest
 * poll for what has no event (stats, request counters, token last-use). Views read it through
 * useSyncExternalStore and act through its methods, which report success or failure in `flash`.
 * All of it goes over the same WebSocket protocol as the CLI.
 */
export class TuiStore {
  private state: TuiState;
  private readonly listeners = new Set<Listener>();
  private readonly reconnector: Reconnector;
  private timers: NodeJS.Timeout[] = [];
  private notifyScheduled = false;
  /** View state that outlives a view while another is shown (selection, filters); not rendered from. */
  readonly ui = new Map<string, unknown>();
  private tokenRefresh: NodeJS.Timeout | null = null;

  constructor(opts: Omit<ReconnectorOptions, "onOnline" | "onState">) {
    this.state = {
      url: opts.url,
      link: { status: "connecting", attempt: 1 },
      server: null,
      sandboxes: [],
      stats: {},
      selectedEnv: null,
      bridges: [],
      tokens: [],
      audit: [],
      logs: {},
      flash: null,
    };
    this.reconnector = new Reconnector({ ...opts, onOnline: (c) => this.load(c), onState: (link) => this.onLink(link) });
  }

  // ---- for React (useSyncExternalStore)
  subscribe = (l: Listener): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };
  getState = (): TuiState => this.state;

  start(): void {
    this.reconnector.start();
  }

  stop(): void {
    this.stopPolling();
    this.reconnector.stop();
  }

  retryNow(): void {
    this.reconnector.retryNow();
  }

  // ---- actions
  /** Runs one request; failures become an error flash (and null). */
  async act<M extends MethodName>(method: M, params: ParamsInput<M>, done?: (r: Result<M>) => string | null, timeoutMs?: number): Promise<Result<M> | null> {
    try {
      const r = await this.call(method, params, timeoutMs);
      const text = done?.(r);
      if (text) this.flash(text, "info");
      return r;
    } catch (e) {
      this.flash(`${method}: ${describeError(e)}`, "error");
      return null;
    }
  }

  call<M extends MethodName>(method: M, params: ParamsInput<M>, timeoutMs?: number): Promise<Result<M>> {
    const conn = this.reconnector.connection;
    if (!conn) return Promise.reject(new McpwError("io_error", "not connected to the server"));
    return conn.call(method, params, timeoutMs);
  }

  async refreshSandboxes(): Promise<void> {
    const r = await this.call("sandbox.list", {});
    this.set({ sandboxes: r.sandboxes });
  }

  async refreshTokens(): Promise<void> {
    const r = await this.call("token.list", {});
    this.set({ tokens: r.tokens });
  }

  /** Loads the last lines of a sandbox's log; live lines are appended from then on. */
  async openLogs(id: string): Promise<void> {
    try {
      const { lines } = await this.call("sandbox.logs", { id, tail: LOG_KEEP });
      const live = (this.state.logs[id] ?? []).filter((l) => l.seq > (lines.at(-1)?.seq ?? 0));
      this.set({ logs: { ...this.state.logs, [id]: [...lines, ...live] } });
    } catch (e) {
      this.flash(`logs of ${id}: ${describeError(e)}`, "error");
    }
  }

  /** Shows the outcome of an action on the status line, for a while. */
  flash(text: string, kind: Flash["kind"] = "info"): void {
    const flash = { text, kind };
    this.set({ flash });
    setTimeout(() => {
      if (this.state.flash === flash) this.set({ flash: null });
    }, FLASH_MS).unref();
  }

  clearFlash(): void {
    if (this.state.flash) this.set({ flash: null });
  }

  // ---- internals
  private set(patch: Partial<TuiState>): void {
    this.state = { ...this.state, ...patch };
    // Event bursts (a chatty sandbox, an audit storm) become one render.
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    setTimeout(() => {
      this.notifyScheduled = false;
      for (const l of this.listeners) l();
    }, 15);
  }

  private onLink(link: LinkState): void {
    if (link.status !== "online") this.stopPolling();
    this.set({ link });
  }

  private async load(conn: ServerConnection): Promise<void> {
    conn.peer.onEvent((event, data) => this.onEvent(event, data));
    await conn.call("subscribe", { topics: ["sandboxes", "logs", "audit", "bridges"] });
    const [status, sandboxes, bridges, tokens, audit] = await Promise.all([
      conn.call("server.status", {}),
      conn.call("sandbox.list", {}),
      conn.call("bridge.list", {}),
      conn.call("token.list", {}),
      conn.call("audit.tail", { limit: AUDIT_KEEP }),
    ]);
    this.set({
      server: { version: status.version, env: status.env },
      sandboxes: sandboxes.sandboxes,
      selectedEnv: bridges.selectedEnv,
      bridges: bridges.bridges,
      tokens: tokens.tokens,
      audit: audit.entries,
      logs: {},
    });
    this.startPolling();
    void this.pollStats();
  }

  private onEvent(event: string, data: unknown): void {
    switch (event) {
      case "sandbox.state": {
        const info = data as EventData<"sandbox.state">;
        const list = this.state.sandboxes;
        const i = list.findIndex((s) => s.id === info.id);
        this.set({ sandboxes: i < 0 ? [...list, info] : list.map((s) => (s.id === info.id ? info : s)) });
        return;
      }
      case "sandbox.log": {
        const { sandbox, ...line } = data as EventData<"sandbox.log">;
        const have = this.state.logs[sandbox];
        if (!have) return;
        this.set({ logs: { ...this.state.logs, [sandbox]: [...have, line].slice(-LOG_KEEP) } });
        return;
      }
      case "audit.entry": {
        const entry = data as AuditEntry;
        this.set({ audit: [...this.state.audit, entry].slice(-AUDIT_KEEP) });
        if (entry.event === "sandbox.remove") void this.refreshSandboxes().catch(() => undefined);
        // Tokens have no event of their own: their audit entries say when to look again.
        if (/^(token\.|auth\.ok|bridge\.register)/.test(entry.event)) this.refreshTokensSoon();
        return;
      }
      case "bridges.changed": {
        const d = data as EventData<"bridges.changed">;
        this.set({ selectedEnv: d.selectedEnv, bridges: d.bridges });
        return;
      }
    }
  }

  private refreshTokensSoon(): void {
    if (this.tokenRefresh) return;
    this.tokenRefresh = setTimeout(() => {
      this.tokenRefresh = null;
      void this.refreshTokens().catch(() => undefined);
    }, 200);
  }

  private async pollStats(): Promise<void> {
    try {
      const { stats } = await this.call("sandbox.stats", {});
      this.set({ stats: Object.fromEntries(stats.map((s) => [s.id, s])) });
    } catch {
      // the next poll tries again; connection problems are shown by the link state
    }
  }

  private startPolling(): void {
    this.stopPolling();
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const t = setInterval(() => void fn().catch(() => undefined), ms);
      t.unref();
      this.timers.push(t);
    };
    every(POLL.statsMs, () => this.pollStats());
    every(POLL.bridgesMs, async () => {
      const b = await this.call("bridge.list", {});
      this.set({ selectedEnv: b.selectedEnv, bridges: b.bridges });
    });
    every(POLL.tokensMs, () => this.refreshTokens());
  }

  private stopPolling(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }
}
