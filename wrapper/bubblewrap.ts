import { basename, dirname } from "node:path";
import { findExecutableOrNull } from "../native/find-executable.js";

export interface BubblewrapStatus {
  available: boolean;
  path: string | null;
  version: string | null;
  /** Why it cannot be used, with the command that fixes it where there is one. */
  problem: string | null;
}

/** The command that installs bubblewrap here. */
export function installHint(): string {
  return process.getuid?.() === 0 ? "apt-get install -y bubblewrap" : "sudo apt-get install -y bubblewrap";
}

/**
 * Is bubblewrap installed? Cheap (no process is started): it is asked on every sandbox start. A
 * kernel or container may still forbid the namespaces; then bwrap fails at once and
 * `explainBubblewrap()` says why.
 */
export function bubblewrapStatus(): BubblewrapStatus {
  // MCPW_BWRAP names a bubblewrap to use instead of the one on the system (or none, if it is absent).
  const chosen = process.env.MCPW_BWRAP;
  const path = chosen ? findExecutableOrNull(basename(chosen), [dirname(chosen)]) : findExecutableOrNull("bwrap", ["/usr/bin", "/usr/local/bin", "/bin"]);
  if (!path) {
    const where = chosen ? ` (MCPW_BWRAP=${chosen} is not an executable)` : "";
    return { available: false, path: null, version: null, problem: `bubblewrap (bwrap) is not installed${where}; install it with: ${installHint()}` };
  }
  return { available: true, path, version: null, problem: null };
}

