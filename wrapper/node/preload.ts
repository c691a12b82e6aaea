/**
 * The Node preload (`--require`, via NODE_OPTIONS, so it also runs in every Node child and worker
 * thread in the sandbox). It patches fs, net/tls/http/https/fetch, dns, child_process and
 * worker_threads so the program gets clear errors and its allowed privileged work goes to the
 * bridge. It is convenience and semantics; the boundary is the kernel (namespaces, seccomp,
 * landlock).
 *
 * Bundled by wrapper/bundle.mjs into one CommonJS file with no dependencies.
 */
import { readFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { dirname, join } from "node:path";
import type { InterceptorConfig } from "../interceptor-config.js";
import { ChannelClient } from "./channel-client.js";
import { installChildProcessInterceptors } from "./child-process-intercept.js";
import { installDnsInterceptors } from "./dns-intercept.js";
import { installFsInterceptors } from "./fs-intercept.js";
import { installNetInterceptors } from "./net-intercept.js";
import { PathRouter } from "./path-router.js";
import { isSyncWorker, runSyncWorker, SyncCaller } from "./sync-call.js";
import { installWorkerInterceptors } from "./worker-intercept.js";

declare const __filename: string;

function readConfig(dir: string): InterceptorConfig | null {
  try {
    return JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as InterceptorConfig;
  } catch {
    return null; // not in a sandbox: do nothing
  }
}

function install(config: InterceptorConfig, dir: string): void {
  const client = new ChannelClient(dir);
  const sync = new SyncCaller(dir, __filename);
  const execAsync = (op: unknown) => client.request("sandbox.op", { op });
  const execSync = (op: unknown) => sync.call("sandbox.op", { op });
  const router = new PathRouter(config);
  installFsInterceptors({ router, execAsync, execSync, writable: (p) => router.writable(p) });
  installNetInterceptors({ client, hostLoopback: config.hostLoopback });
  installDnsInterceptors(client);
  const inheritedEnv: Record<string, string> = {};
  for (const k of ["NODE_OPTIONS", "MCPW_CHANNEL_DIR", "PYTHONPATH", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "NO_PROXY", "no_proxy"]) {
    const v = process.env[k];
    if (v !== undefined) inheritedEnv[k] = k === "NODE_OPTIONS" ? `--require ${__filename}` : v;
  }
  const bridgeShim = [process.execPath, join(dirname(__filename), "exec-via-bridge.cjs")];
  installChildProcessInterceptors({ allow: config.exec.allow, viaBridge: config.exec.viaBridge, bridgeShim, inheritedEnv });
  installWorkerInterceptors(inheritedEnv);
  // ESM `import { readFileSync } from "node:fs"` sees the patched functions too.
  syncBuiltinESMExports();
}

const g = globalThis as { __mcpwPreloaded?: boolean };
if (isSyncWorker()) {
  runSyncWorker();
} else if (!g.__mcpwPreloaded) {
  g.__mcpwPreloaded = true;
  const dir = process.env.MCPW_CHANNEL_DIR ?? "/run/mcpw";
  const config = readConfig(dir);
  if (config) install(config, dir);
}
