import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawn, type IPty } from "node-pty";
import { MCPW_BIN } from "./cli.js";
import { VtScreen } from "./vt-screen.js";

export type ScreenTest = string | RegExp | ((screen: string) => boolean);

/** Generous: the machine running the tests may be a loaded 2-core box. */
export const SCREEN_WAIT_MS = 60_000;

/**
 * A program running on a real pseudo-terminal (node-pty), with what it drew kept in a VtScreen, so a
 * test can press keys and wait for text to appear on the screen, as a person would.
 */
export class PtyApp {
  readonly screen: VtScreen;
  readonly exited: Promise<{ exitCode: number; signal?: number | undefined }>;
  private rawOutput = "";
  private exit: { exitCode: number; signal?: number | undefined } | null = null;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly pty: IPty,
    cols: number,
    rows: number,
  ) {
    this.screen = new VtScreen(cols, rows);
    pty.onData((d) => {
      this.rawOutput += d;
      this.screen.write(d);
      for (const w of [...this.waiters]) w();
    });
    this.exited = new Promise((resolve) => {
      pty.onExit((e) => {
        this.exit = e;
        for (const w of [...this.waiters]) w();
        resolve(e);
      });
    });
  }

  /** Runs `mcpw <args>` on a terminal of `cols`x`rows` (80x24 unless told). */
  static mcpw(args: string[], opts: { cols?: number; rows?: number; env?: Record<string, string>; cwd?: string } = {}): PtyApp {
    return PtyApp.spawn(process.execPath, [MCPW_BIN, ...args], opts);
  }

  static spawn(file: string, args: string[], opts: { cols?: number; rows?: number; env?: Record<string, string>; cwd?: string } = {}): PtyApp {
    const cols = opts.cols ?? 80;
    const rows = opts.rows ?? 24;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    Object.assign(env, { TERM: "xterm-256color", LANG: "C.UTF-8" }, opts.env);
    const pty = spawn(file, args, { name: "xterm-256color", cols, rows, cwd: opts.cwd ?? process.cwd(), env });
    return new PtyApp(pty, cols, rows);
  }

  /** What the screen shows now. */
  get text(): string {
    return this.screen.text();
  }

  /** Everything the program wrote, escapes included. */
  get raw(): string {
    return this.rawOutput;
  }

  press(keys: string): void {
    this.pty.write(keys);
  }

  resize(cols: number, rows: number): void {
    this.screen.resize(cols, rows);
    this.pty.resize(cols, rows);
  }

  /** Resolves with the screen once `test` holds for it; fails with the screen when it never does. */
  waitFor(test: ScreenTest, ms = SCREEN_WAIT_MS): Promise<string> {
    return this.waitOn(() => this.text, test, ms, "the screen");
  }

  /** Like waitFor, but on the raw output with escapes removed (for line-oriented programs such as a shell). */
  waitForOutput(test: ScreenTest, ms = SCREEN_WAIT_MS): Promise<string> {
    return this.waitOn(() => stripAnsi(this.rawOutput), test, ms, "the output");
  }

  /** Saves the screen as <name>.txt when MCPW_TUI_CAPTURE names a directory (for docs/tui.md). */
  capture(name: string): void {
    const dir = process.env.MCPW_TUI_CAPTURE;
    if (!dir) return;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.txt`), `${this.text}\n`);
  }

  kill(): void {
    if (!this.exit) this.pty.kill("SIGKILL");
  }

  private waitOn(read: () => string, test: ScreenTest, ms: number, what: string): Promise<string> {
    const ok = (s: string) => (typeof test === "string" ? s.includes(test) : test instanceof RegExp ? test.test(s) : test(s));
    return new Promise((resolve, reject) => {
      const check = () => {
        const s = read();
        if (ok(s)) {
          done();
          resolve(s);
        } else if (this.exit) {
          done();
          reject(new Error(`the program exited (${JSON.stringify(this.exit)}) before ${what} showed ${String(test)}; ${what}:\n${s}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`waited ${ms} ms for ${what} to show ${String(test)}; ${what}:\n${read()}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }
}

export function stripAnsi(s: string): string {
  return s.replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, "").replace(/\x1b\[[?>=!]?[\d;:]*[ -/]*[@-~]/g, "").replace(/\x1b[()][A-Za-z0-9]|\x1b[=>78DEMc]/g, "");
}
