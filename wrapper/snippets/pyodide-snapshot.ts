import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { loadPyodide } from "pyodide";
import { MCPW_DIST } from "../../native/install-paths.js";

/**
 * Pyodide boots in ~4 s, mostly Python's own start-up; restoring a memory snapshot of a booted
 * interpreter takes ~0.4 s. The snapshot is made once per Pyodide version (in a worker, so the
 * caller stays responsive; it runs no snippet), kept in the cache directory (0600), and sent to
 * every Pyodide sandbox at its start (which cannot read the cache).
 */

/** Standard modules imported before the snapshot, so snippets find them already loaded. */
const PRELOADED = ["json", "math", "io", "re", "email.message", "urllib.request", "urllib.error", "urllib.response", "zipfile", "traceback", "asyncio", "base64", "site", "html.parser", "pyodide.code", "pyodide.http"];

export function pyodideVersion(): string {
  const require = createRequire(import.meta.url);
  return (require("pyodide/package.json") as { version: string }).version;
}

/** The snapshot file for this Pyodide version, made now if it does not exist yet. */
export async function ensurePyodideSnapshot(cacheDir: string): Promise<string> {
  // The name changes with what is preloaded, so an older snapshot is never used by mistake.
  const tag = createHash("sha256").update(PRELOADED.join(",")).digest("hex").slice(0, 8);
  const file = join(cacheDir, `pyodide-${pyodideVersion()}-${tag}.snapshot`);
  if (existsSync(file)) return file;
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  // This module's compiled file, from mcpw's install (import.meta.url may be the CLI bundle's).
  const worker = new Worker(join(MCPW_DIST, "wrapper", "snippets", "pyodide-snapshot.js"), { workerData: { file } });
  await new Promise<void>((resolve, reject) => {
    worker.once("message", (m: { ok: boolean; message?: string }) => (m.ok ? resolve() : reject(new Error(`making the Pyodide snapshot failed: ${m.message}`))));
    worker.once("error", reject);
  });
  await worker.terminate();
  return file;
}

async function makeSnapshot(file: string): Promise<void> {
  const indexURL = `${dirname(createRequire(import.meta.url).resolve("pyodide"))}/`;
  const py = await loadPyodide({ indexURL, _makeSnapshot: true, env: { HOME: "/home/pyodide" } } as Parameters<typeof loadPyodide>[0]);
  py.runPython(PRELOADED.map((m) => `import ${m}`).join("\n"));
  const bytes = (py as unknown as { makeMemorySnapshot(): Uint8Array }).makeMemorySnapshot();
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes, { mode: 0o600 });
  renameSync(tmp, file);
}

if (!isMainThread && (workerData as { file?: string } | null)?.file) {
  makeSnapshot((workerData as { file: string }).file).then(
    () => parentPort!.postMessage({ ok: true }),
    (e: unknown) => parentPort!.postMessage({ ok: false, message: e instanceof Error ? e.message : String(e) }),
  );
}
