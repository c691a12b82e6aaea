import { mkdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { BridgeOperations } from "../../bridge/operations.js";
import { BridgeDaemon, type BridgeState } from "../../bridge/daemon.js";
import type { BridgePolicyInput } from "../../protocol/policy.js";
import { tempDir } from "./server.js";

export interface TestBridge {
  daemon: BridgeDaemon;
  operations: BridgeOperations;
  running: Promise<unknown>;
  audit: Record<string, unknown>[];
  logs: string[];
  /** Resolves when the daemon reaches `state`. */
  reach(state: BridgeState, ms?: number): Promise<void>;
}

/** A real bridge daemon with real operations, in this process. */
export function startTestBridge(url: string, token: string, env: string, name: string, policy: BridgePolicyInput, opts: { heartbeatMs?: number } = {}): TestBridge {
  const audit: Record<string, unknown>[] = [];
  const logs: string[] = [];
  const operations = new BridgeOperations(policy, (e) => audit.push(e));
  const daemon = new BridgeDaemon({ url, token, env, name, capabilities: operations.capabilities, performer: operations, log: (l) => logs.push(l), backoff: { initialMs: 50, maxMs: 400 }, ...opts });
  const waiters: { state: BridgeState; resolve: () => void }[] = [];
  daemon.onState((s) => {
    for (const w of waiters.filter((w) => w.state === s)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  const running = daemon.run().catch((e: unknown) => e);
  return {
    daemon,
    operations,
    running,
    audit,
    logs,
    reach: (state, ms = 10_000) =>
      daemon.state === state
        ? Promise.resolve()
        : new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`bridge ${name} did not become ${state} within ${ms} ms (now ${daemon.state})`)), ms);
            waiters.push({ state, resolve: () => (clearTimeout(t), resolve()) });
          }),
  };
}

/** A directory tree for bridge roots: allowed/{a.txt, sub/}, outside/secret.txt. */
export function bridgeTree(): { root: string; allowed: string; outside: string } {
  const root = realpathSync(tempDir("mcpw-bridge-tree-"));
  const allowed = join(root, "allowed");
  const outside = join(root, "outside");
  mkdirSync(join(allowed, "sub"), { recursive: true });
  mkdirSync(outside, { recursive: true });
  return { root, allowed, outside };
}
