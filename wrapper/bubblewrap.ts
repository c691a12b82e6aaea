import { probeKernelLayers, type KernelLayers } from "../native/probe.js";

export interface BubblewrapStatus {
  available: boolean;
  path: string | null;
  version: string | null;
  /** Why it cannot be used, with the command that fixes it where there is one. */
  problem: string | null;
}

let cached: KernelLayers | null = null;

/** The machine's isolation layers, probed once per process (bwrap is really run: a few ms). */
export function kernelLayers(): KernelLayers {
  cached ??= probeKernelLayers();
  return cached;
}

/** The command that installs bubblewrap here. */
export function installHint(): string {
  return process.getuid?.() === 0 ? "apt-get install -y bubblewrap" : "sudo apt-get install -y bubblewrap";
}

/**
 * Can bubblewrap create the namespaces we ask for on this machine? A kernel or container may
 * forbid user namespaces even when the binary is present.
 */
export function bubblewrapStatus(): BubblewrapStatus {
  const { bubblewrap, userNamespaces } = kernelLayers();
  if (!bubblewrap.available) {
    return { available: false, path: bubblewrap.path, version: null, problem: `bubblewrap (bwrap) is not usable: ${bubblewrap.detail}; install it with: ${installHint()}` };
  }
  if (!userNamespaces.available) {
    return { available: false, path: bubblewrap.path, version: bubblewrap.version, problem: `bubblewrap cannot create user namespaces here: ${userNamespaces.detail}` };
  }
  return { available: true, path: bubblewrap.path, version: bubblewrap.version, problem: null };
}
