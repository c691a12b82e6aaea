import { McpwError } from "../../protocol/errors.js";
import { describeError } from "../command.js";
import { connectToServer, type ServerConnection } from "../server-connection.js";

/** Why the TUI is not connected, each with its own remedy and retry rule. */
export type Problem = "unreachable" | "unauthorized" | "no-token" | "rate-limited" | "lost" | "setup";

export type LinkState =
  | { status: "connecting"; attempt: number }
  | { status: "online" }
  | {
      status: "offline";
      problem: Problem;
      message: string;
      /** What the person can do about it. */
      hint: string;
      /** When the next attempt happens on its own; null: after a key press or a change of the token file. */
      retryAt: number | null;
      attempt: number;
    };

export interface ReconnectorOptions {
  url: string;
  /** Where the admin token comes from, for messages. */
  tokenPath: string;
  /** Reads the admin token afresh (so fixing the file is enough); throws when it is missing. */
  readToken: () => string;
  /** Called once per successful connection, before the state turns online. */
  onOnline: (conn: ServerConnection) => Promise<void>;
  onState: (state: LinkState) => void;
  connect?: typeof connectToServer;
  backoff?: { initialMs: number; maxMs: number };
  /** How often a missing or refused token file is read again. */
  tokenPollMs?: number;
}

/**
 * Keeps the TUI connected: connects, authenticates with the admin token, and after any failure
 * says why and tries again — with backoff when the server is unreachable, after the lockout when
 * rate-limited, and, when the token was refused, only once the token file changes (retrying the
 * same wrong token would only run into the server's lockout). `retryNow` skips the wait.
 */
export class Reconnector {
  private conn: ServerConnection | null = null;
  private timer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private busy = false;
  private stopped = false;
  private refusedToken: string | null = null;

  constructor(private readonly opts: ReconnectorOptions) {}

  get connection(): ServerConnection | null {
    return this.conn;
  }

  start(): void {
    void this.tryConnect();
  }

  /** Tries again now, whatever the wait. */
  retryNow(): void {
    if (this.conn || this.busy || this.stopped) return;
    this.refusedToken = null;
    void this.tryConnect();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
    this.conn?.close();
    this.conn = null;
  }

  private async tryConnect(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.clearTimer();
    this.busy = true;
    try {
      await this.connectOnce();
    } finally {
      this.busy = false;
    }
  }

  private async connectOnce(): Promise<void> {
    const { url, tokenPath } = this.opts;
    let token: string;
    try {
      token = this.opts.readToken();
    } catch (e) {
      this.offline("no-token", describeError(e), `Start the server once with \`mcpw serve\` (it writes ${tokenPath}), or pass --token-file.`, null);
      this.watchToken(null);
      return;
    }
    if (token === this.refusedToken) {
      this.watchToken(token);
      return;
    }
    this.attempt++;
    this.opts.onState({ status: "connecting", attempt: this.attempt });
    let conn: ServerConnection;
    try {
      conn = await (this.opts.connect ?? connectToServer)(url, token, "client");
    } catch (e) {
      if (this.stopped) return;
      const code = e instanceof McpwError ? e.code : null;
      if (code === "unauthorized" || code === "forbidden") {
        this.refusedToken = token;
        this.offline(
          "unauthorized",
          `The server at ${url} refused the admin token in ${tokenPath}: ${describeError(e)}.`,
          "Use the admin.token the server wrote in its state dir (--state-dir, --token-file or MCPW_TOKEN_FILE). The TUI reconnects when the file changes.",
          null,
        );
        this.watchToken(token);
      } else if (code === "rate_limited") {
        const wait = (e as McpwError).retryAfterMs ?? 60_000;
        this.offline("rate-limited", describeError(e), "Too many wrong tokens came from this address; the server locked it out for a while.", Date.now() + wait);
        this.schedule(wait);
      } else {
        const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 1000, maxMs: 15_000 };
        const wait = Math.min(maxMs, initialMs * 2 ** Math.min(10, this.attempt - 1));
        this.offline("unreachable", describeError(e), "The address comes from --server or MCPW_SERVER (default ws://127.0.0.1:7800).", Date.now() + wait);
        this.schedule(wait);
      }
      return;
    }
    if (this.stopped) {
      conn.close();
      return;
    }
    this.conn = conn;
    this.refusedToken = null;
    void conn.peer.closed().then((reason) => {
      if (this.stopped || this.conn !== conn) return;
      this.conn = null;
      this.attempt = 0;
      this.offline("lost", `Lost the connection to ${url}: ${reason}.`, "Reconnecting.", Date.now() + 1000);
      this.schedule(1000);
    });
    try {
      await this.opts.onOnline(conn);
    } catch (e) {
      if (this.conn !== conn) return;
      this.conn = null;
      conn.peer.close("setup failed");
      this.offline("setup", `Connected to ${url}, but loading the state failed: ${describeError(e)}.`, "Retrying.", Date.now() + 3000);
      this.schedule(3000);
      return;
    }
    if (this.conn === conn) {
      this.attempt = 0;
      this.opts.onState({ status: "online" });
    }
  }

  private offline(problem: Problem, message: string, hint: string, retryAt: number | null): void {
    this.opts.onState({ status: "offline", problem, message, hint, retryAt, attempt: this.attempt });
  }

  /** Reads the token file every few seconds and connects once it differs from `refused` (or exists). */
  private watchToken(refused: string | null): void {
    this.clearTimer();
    this.timer = setTimeout(() => {
      let now: string | null = null;
      try {
        now = this.opts.readToken();
      } catch {
        now = null;
      }
      if (now !== null && now !== refused) {
        this.refusedToken = null;
        void this.tryConnect();
      } else this.watchToken(refused);
    }, this.opts.tokenPollMs ?? 2000);
  }

  private schedule(ms: number): void {
    this.clearTimer();
    this.timer = setTimeout(() => void this.tryConnect(), ms);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
