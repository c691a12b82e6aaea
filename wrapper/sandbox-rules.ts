import { posix } from "node:path";
import { McpwError } from "../protocol/errors.js";
import type { SandboxOp } from "../protocol/ops.js";
import type { Policy } from "../protocol/policy.js";
import { governingRule } from "./path-rules.js";

/**
 * The sandbox's own policy, checked by the supervisor before an operation is forwarded to the
 * bridge (which then checks its own). Paths outside /mount are host paths the policy lists; the
 * sandbox sees them at the same path.
 */


const WRITES = new Set(["fs.write", "fs.mkdir", "fs.rm", "fs.rename"]);

/** Throws policy_denied unless the policy lets the sandbox ask for `op`. */
export function checkSandboxOp(policy: Policy, op: SandboxOp): void {
  switch (op.op) {
    case "fs.rename":
      checkPath(policy, op.from, true, "rename");
      checkPath(policy, op.to, true, "rename");
      return;
    case "net.resolve":
    case "http.request":
      return; // the bridge checks the network policy, after DNS resolution
    case "exec":
      if (!commandListed(op.command, policy.exec.viaBridge)) {
        throw new McpwError("policy_denied", `running ${op.command} through the bridge is refused: not in exec.viaBridge`, { rule: "exec.viaBridge", errno: "EACCES" });
      }
      return;
    default:
      checkPath(policy, op.path, WRITES.has(op.op), op.op.slice(3));
  }
}

function checkPath(policy: Policy, raw: string, write: boolean, verb: string): void {
  const path = posix.normalize(raw);
  const fs = policy.filesystem;
  // The deepest listed root decides (wrapper/path-rules.ts).
  const rule = governingRule(path, fs.readonly, fs.writable);
  if (write) {
    if (rule?.kind === "writable") return;
    const ro = rule?.kind === "readonly";
    throw new McpwError("policy_denied", `${verb} ${path} refused: ${ro ? `read-only under filesystem.readonly ${rule.root}` : "not under a filesystem.writable path"}`, {
      rule: "filesystem.writable",
      errno: ro ? "EROFS" : "EACCES",
    });
  }
  if (rule) return;
  throw new McpwError("policy_denied", `${verb} ${path} refused: outside /mount and not under filesystem.readonly or filesystem.writable`, {
    rule: "filesystem.readonly",
    errno: "EACCES",
  });
}

/** A bare name matches by basename; an absolute entry matches that exact path. */
export function commandListed(command: string, list: string[]): boolean {
  const base = posix.basename(command);
  return list.some((entry) => (entry.startsWith("/") ? entry === command : entry === base));
}
