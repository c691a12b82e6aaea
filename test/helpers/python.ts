import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { PolicyInput } from "../../protocol/policy.js";
import { tempDir } from "./server.js";

/** Helpers for the Python interceptor tests: real `mcpw run` (bubblewrap, embedded server and bridge). */

/** The checkout (this file runs as dist/test/helpers/python.js). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const MCPW = join(ROOT, "bin", "mcpw.js");
export const PYTHON_LIB = join(ROOT, "dist", "sandbox", "python");
export const PYTHON_FIXTURE = join(ROOT, "test", "fixtures", "python-mcp-server.py");

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Host directory bound at /mount (default: a new temp dir). */
  workspace?: string;
  input?: string;
  timeoutMs?: number;
}

/** `mcpw run -q <flags> -- <command...>`; resolves with its exit code and output. */
export function mcpwRun(flags: string[], command: string[], opts: RunOptions = {}): Promise<RunResult & { workspace: string }> {
  const workspace = opts.workspace ?? tempDir("mcpw-py-ws-");
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [MCPW, "run", "-q", "--mount", workspace, ...flags, "--", ...command], { cwd: workspace, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.once("error", fail);
    child.once("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, workspace });
    });
    child.stdin.end(opts.input ?? "");
  });
}

/**
 * Python prepended to every probe: attempt(fn) records a value or the exception (type, errno,
 * message); report(**results) prints them as the last line, as JSON.
 */
const PRELUDE = `
import json, os, sys
def attempt(fn):
    try:
        return {"ok": fn()}
    except BaseException as e:
        reason = getattr(e, "reason", None)  # urllib's URLError wraps the socket error
        inner = reason if isinstance(reason, BaseException) else e
        return {"error": type(inner).__name__, "errno": getattr(inner, "errno", None), "message": str(e)}
def report(**results):
    print(json.dumps(results, default=repr))
`;

export interface Attempt<T = unknown> {
  ok?: T;
  error?: string;
  errno?: number | null;
  message?: string;
}

export interface ProbeResult {
  /** What report(...) printed. */
  out: Record<string, any>;
  run: RunResult & { workspace: string };
}

/** Runs Python code in a sandbox and parses what it report()ed; fails with the output if it did not. */
export async function probe(code: string, flags: string[] = [], opts: RunOptions & { python?: string } = {}): Promise<ProbeResult> {
  const run = await mcpwRun(flags, [opts.python ?? "python3", "-c", PRELUDE + code], opts);
  const last = run.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return { out: JSON.parse(last) as Record<string, any>, run };
  } catch {
    throw new Error(`the probe printed no report (exit ${run.code})\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  }
}

/** A policy file; mcpw run's flags are added on top of it. */
export function policyFile(policy: PolicyInput): string {
  const file = join(tempDir("mcpw-py-policy-"), "policy.json");
  writeFileSync(file, JSON.stringify(policy));
  return file;
}

/** The audit lines of one run (`--audit <file>`). */
export function auditLines(file: string): Record<string, any>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);
}

export interface SeenRequest {
  method: string;
  url: string;
  host: string;
  /** TLS server name the client sent (SNI), for https servers. */
  servername?: string;
}

export interface LoopbackServer {
  port: number;
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

function answer(requests: SeenRequest[], name: string) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const servername = (req.socket as { servername?: string }).servername;
    requests.push({ method: req.method ?? "", url: req.url ?? "", host: req.headers.host ?? "", ...(servername ? { servername } : {}) });
    res.end(`hello from ${name} ${req.url}`);
  };
}

async function listening(server: ReturnType<typeof createHttpServer>, scheme: string, requests: SeenRequest[]): Promise<LoopbackServer> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** An HTTP server on the host's loopback that records each request it gets. */
export function loopbackServer(name = "host"): Promise<LoopbackServer> {
  const requests: SeenRequest[] = [];
  return listening(createHttpServer(answer(requests, name)), "http", requests);
}

export interface TlsMaterial {
  cert: string;
  key: string;
  /** The certificate's file (it is its own CA). */
  certFile: string;
}

/** A self-signed certificate for `localhost`, made with the openssl CLI; null when there is none. */
export function localhostCertificate(): TlsMaterial | null {
  const dir = tempDir("mcpw-py-tls-");
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"], {
      stdio: "ignore",
    });
  } catch {
    return null;
  }
  return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8"), certFile };
}

/** An HTTPS server on the host's loopback; records the SNI name of each request. */
export function loopbackTlsServer(tls: TlsMaterial, name = "tls host"): Promise<LoopbackServer> {
  const requests: SeenRequest[] = [];
  return listening(createHttpsServer({ cert: tls.cert, key: tls.key }, answer(requests, name)) as unknown as ReturnType<typeof createHttpServer>, "https", requests);
}
