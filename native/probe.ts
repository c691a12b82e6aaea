/**
 * `probeKernelLayers()`: which isolation layers this machine offers, each with the reason when it
 * does not. `mcpw doctor` prints it; `isolation: "strict"` refuses to start without them.
 * Synchronous, and bounded: the two programs it runs (bwrap) get a few seconds each.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { delimiter } from "node:path";
import { findExecutableOrNull } from "./find-executable.js";
import { nativeAvailability, libc } from "./libc.js";
import { landlockAbi } from "./landlock.js";
import { PR_GET_SECCOMP, seccompActionAvailable } from "./seccomp.js";
import { SECCOMP_RET } from "./seccomp-filter.js";
import { hostArch } from "./syscall-table.js";

export interface LayerStatus {
  available: boolean;
  detail: string;
}

export interface KernelLayers {
  /** koffi + libc: without it none of seccomp, landlock, rlimits can be applied from Node. */
  native: LayerStatus;
  seccomp: LayerStatus;
  landlock: LayerStatus & { abi: number };
  userNamespaces: LayerStatus;
  bubblewrap: LayerStatus & { path: string | null; version: string | null };
}

export interface ProbeOptions {
  /** bwrap to use; default: the first `bwrap` in PATH. */
  bwrapPath?: string | undefined;
  /** Per-program timeout in ms (default 5000). */
  timeoutMs?: number | undefined;
}

const readText = (path: string): string | null => {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return null;
  }
};

export function probeKernelLayers(options: ProbeOptions = {}): KernelLayers {
  const timeout = options.timeoutMs ?? 5000;
  const native = nativeAvailability();
  const bubblewrap = probeBubblewrap(options.bwrapPath, timeout);
  return {
    native,
    seccomp: probeSeccomp(native.available),
    landlock: probeLandlock(native.available),
    userNamespaces: probeUserNamespaces(bubblewrap.path, timeout),
    bubblewrap,
  };
}

function probeSeccomp(nativeOk: boolean): LayerStatus {
  const arch = hostArch();
  if (arch === null) return { available: false, detail: `mcpw has no seccomp filter for ${process.arch}` };
  const actions = readText("/proc/sys/kernel/seccomp/actions_avail");
  if (!nativeOk) {
    const ok = actions !== null && /\berrno\b/.test(actions) && /\bkill_process\b/.test(actions);
    return { available: false, detail: `cannot install from Node without koffi (kernel actions: ${actions ?? "unknown"})${ok ? "" : "; kernel lacks errno/kill_process"}` };
  }
  const mode = libc().prctl(PR_GET_SECCOMP);
  if (mode < 0) return { available: false, detail: `prctl(PR_GET_SECCOMP) failed: the kernel was built without seccomp` };
  const missing = (["ERRNO", "KILL_PROCESS", "ALLOW"] as const).filter((a) => !seccompActionAvailable(SECCOMP_RET[a]));
  if (missing.length) return { available: false, detail: `the kernel lacks seccomp actions ${missing.join(", ")} (needs Linux >= 4.14)` };
  return { available: true, detail: `seccomp filter mode available for ${arch}${mode === 2 ? " (this process is already filtered; filters stack)" : ""}` };
}

function probeLandlock(nativeOk: boolean): LayerStatus & { abi: number } {
  if (!nativeOk) return { available: false, abi: 0, detail: "cannot be applied from Node without koffi" };
  const { abi, detail } = landlockAbi();
  return { available: abi >= 1, abi, detail };
}

function probeUserNamespaces(bwrap: string | null, timeout: number): LayerStatus {
  const max = readText("/proc/sys/user/max_user_namespaces");
  if (max === "0") return { available: false, detail: "disabled: /proc/sys/user/max_user_namespaces is 0" };
  const debian = readText("/proc/sys/kernel/unprivileged_userns_clone");
  const apparmor = readText("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  const uid = process.getuid?.() ?? -1;
  const limits = [
    max !== null ? `max_user_namespaces=${max}` : null,
    debian === "0" ? "kernel.unprivileged_userns_clone=0 (only root may create them)" : null,
    apparmor === "1" ? "AppArmor restricts unprivileged user namespaces" : null,
  ].filter(Boolean);
  if (!bwrap) return { available: max !== null, detail: `no bwrap to try one; ${limits.join(", ") || "no sysctl found"}` };
  const run = spawnSync(bwrap, ["--unshare-user", "--ro-bind", "/", "/", "true"], { timeout, encoding: "utf8" });
  if (run.status === 0) return { available: true, detail: `bwrap --unshare-user works as uid ${uid}; ${limits.join(", ")}` };
  const why = (run.stderr || run.error?.message || `exit ${run.status ?? run.signal}`).trim();
  return { available: false, detail: `bwrap --unshare-user failed as uid ${uid}: ${why}${limits.length ? `; ${limits.join(", ")}` : ""}` };
}

function probeBubblewrap(given: string | undefined, timeout: number): LayerStatus & { path: string | null; version: string | null } {
  const path = given ?? findExecutableOrNull("bwrap", (process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(delimiter));
  if (!path) return { available: false, path: null, version: null, detail: "bwrap not found in PATH (Debian/Ubuntu package: bubblewrap)" };
  const run = spawnSync(path, ["--version"], { timeout, encoding: "utf8" });
  if (run.status !== 0) {
    return { available: false, path, version: null, detail: `${path} --version failed: ${(run.stderr || run.error?.message || "").trim()}` };
  }
  const version = run.stdout.trim().replace(/^bubblewrap\s+/, "");
  return { available: true, path, version, detail: `${path} ${version}` };
}
