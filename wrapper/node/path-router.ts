import { posix } from "node:path";
import { fileURLToPath } from "node:url";
import type { InterceptorConfig } from "../interceptor-config.js";
import { governingRule, within } from "../path-rules.js";

export type Route =
  | { kind: "native"; path: string }
  | { kind: "bridge"; path: string }
  | { kind: "denied"; path: string; code: "EACCES" | "EROFS"; detail: string };

const MOUNT = "/mount";


/**
 * Decides where a path is served: natively (the sandbox's own view: /mount, /tmp, the runtime),
 * by the bridge (host paths the policy lists, seen at the same path), or nowhere (EACCES, naming
 * the rule).
 */
export class PathRouter {
  constructor(private readonly config: InterceptorConfig) {}

  /** Absolute, normalised form of a path argument; null when the argument is not a path (an fd). */
  normalise(p: unknown): string | null {
    let s: string;
    if (typeof p === "string") s = p;
    else if (Buffer.isBuffer(p)) s = p.toString("utf8");
    else if (p instanceof URL) {
      if (p.protocol !== "file:") return null;
      s = fileURLToPath(p);
    } else return null;
    if (s.includes("\0")) return null; // let Node raise its own error
    return posix.resolve(process.cwd(), s);
  }

  route(p: unknown, write: boolean): Route | null {
    const abs = this.normalise(p);
    if (abs === null) return null;
    const c = this.config;
    // Paths the policy lists are the bridge's, even under a directory the sandbox also sees (/tmp);
    // the deepest listed root decides whether they may be written.
    const rule = governingRule(abs, c.readonly, c.writable);
    if (rule?.kind === "writable") return { kind: "bridge", path: abs };
    if (rule?.kind === "readonly") {
      return write
        ? { kind: "denied", path: abs, code: "EROFS", detail: `${abs} is read-only (filesystem.readonly)` }
        : { kind: "bridge", path: abs };
    }
    if (!c.isolated && within(abs, MOUNT)) return { kind: "native", path: c.workspace + abs.slice(MOUNT.length) };
    if (abs === "/" || c.view.some((r) => within(abs, r))) return { kind: "native", path: abs };
    return { kind: "denied", path: abs, code: "EACCES", detail: "outside /mount and not in policy filesystem.readonly or filesystem.writable" };
  }

  /** May the bridge write this absolute path (access W_OK)? */
  writable(abs: string): boolean {
    return governingRule(abs, this.config.readonly, this.config.writable)?.kind === "writable";
  }
}
