import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Where mcpw itself is installed: the directory holding its package.json. Found by walking up from
 * this module, so it is right both from dist/<folder>/*.js and from a bundle in dist/.
 */
function findRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "mcp-wrapper") return dir;
      } catch {
        // keep walking
      }
    }
    if (dir === dirname(dir)) throw new Error("cannot find mcpw's own package.json above its code");
  }
}

export const MCPW_ROOT = findRoot();
export const MCPW_DIST = join(MCPW_ROOT, "dist");
export const MCPW_NODE_MODULES = join(MCPW_ROOT, "node_modules");
/** What runs inside sandboxes (sandbox-init, Node preload, Python sitecustomize, proxy), bundled by build.mjs. */
export const SANDBOX_LIB_DIR = join(MCPW_DIST, "sandbox");
/** What a best-effort sandbox runs under (native/reaper.ts), bundled by build.mjs. */
export const REAPER_SCRIPT = join(MCPW_DIST, "cli", "reaper.cjs");
