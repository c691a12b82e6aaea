import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

/** A minimal newline-delimited JSON-RPC client over a child's stdio: no SDK in the measured path. */
export class StdioRpc {
  readonly child: ChildProcess;
  private readonly waiting = new Map<number, (msg: unknown) => void>();
  private nextId = 1;

  constructor(command: string, args: string[], cwd: string) {
    this.child = spawn(command, args, { cwd, stdio: ["pipe", "pipe", "ignore"] });
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      let msg: { id?: number };
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof msg.id === "number") {
        const w = this.waiting.get(msg.id);
        this.waiting.delete(msg.id);
        w?.(msg);
      }
    });
  }

  request(method: string, params: unknown): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin!.write(`${JSON.stringify({ jsonrpc: "2.0", id, method, params })}\n`);
    });
  }

  notify(method: string): void {
    this.child.stdin!.write(`${JSON.stringify({ jsonrpc: "2.0", method })}\n`);
  }

  async close(): Promise<void> {
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(t);
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits;
