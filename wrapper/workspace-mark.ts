import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The file mcpw leaves in every folder it makes to hold sandbox workspaces (`<cwd>/mount`,
 * `<state>/workspaces`, the server's `workspaceRoot`). A folder that carries it is hidden anywhere
 * in a tree mcpw exposes to a sandbox (command-resolution.ts `exposure`), whichever folder that
 * sandbox was started from: `cd proj/sub && mcpw run -- node ../index.js` exposes `proj`, and
 * `proj/mount` (another live sandbox's workspaces) is not `<cwd>/mount` there.
 *
 * It sits in the holder itself, never inside a workspace: a sandbox owns its workspace and could
 * delete a mark there; the holder is not bound into any sandbox.
 */
export const WORKSPACES_MARK = ".mcpw-workspaces";

const TEXT = "This folder holds mcpw sandbox workspaces (one per sandbox). mcpw hides it from every sandbox that is shown a tree containing it.\n";

/** Marks `dir` (made by mcpw to hold workspaces) if it is not marked yet; throws when it cannot. */
export function markWorkspaceRoot(dir: string): void {
  const mark = join(dir, WORKSPACES_MARK);
  if (existsSync(mark)) return;
  writeFileSync(mark, TEXT, { mode: 0o644, flag: "wx" });
}
