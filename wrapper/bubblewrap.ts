import { execFileSync } from "node:child_process";
import { findExecutableOrNull } from "./find-executable.js";

export interface BubblewrapStatus {
  available: boolean;
  path: string | null;
  version: string | null;
  /** Why it cannot be used, with the command that fixes it where there is one. */
  problem: string | null;
}

let cached: BubblewrapStatus | null = null;

/**
 * Is bubblewrap installed, and can it create the namespaces we ask for on this machine? Tried for
 * real once per process (a few milliseconds), because a kernel or container may forbid user
 * namespaces even when the binary is present.
 */
export function bubblewrapStatus(): BubblewrapStatus {
  if (cached) return cached;
  const path = findExecutableOrNull("bwrap", ["/usr/bin", "/usr/local/bin", "/bin"]);
  if (!path) {
    const fix = process.getuid?.() === 0 ? "apt-get install -y bubblewrap" : "sudo apt-get install -y bubblewrap";
    cached = { available: false, path: null, version: null, problem: `bubblewrap (bwrap) is not installed; install it with: ${fix}` };
    return cached;
  }
  let version: string | null = null;
  try {
    version = execFileSync(path, ["--version"], { encoding: "utf8", timeout: 5000 }).trim().replace(/^bubblewrap\s+/, "");
  } catch {
    version = null;
  }
  try {
    execFileSync(path, ["--unshare-user", "--unshare-net", "--unshare-pid", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--", "/usr/bin/true"], {
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 10_000,
    });
  } catch (e) {
    const stderr = String((e as { stderr?: Buffer }).stderr ?? "").trim();
    cached = {
      available: false,
      path,
      version,
      problem: `bubblewrap is installed but cannot create namespaces here (${stderr || (e as Error).message}); user namespaces may be disabled: check sysctl user.max_user_namespaces and kernel.unprivileged_userns_clone`,
    };
    return cached;
  }
  cached = { available: true, path, version, problem: null };
  return cached;
}
