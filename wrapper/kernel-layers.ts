import { probeKernelLayers, type KernelLayers } from "../native/probe.js";
import { installHint, type BubblewrapStatus } from "./bubblewrap.js";

let cached: KernelLayers | null = null;

/** The machine's isolation layers, probed once per process (bwrap is really run: a few ms). */
export function kernelLayers(): KernelLayers {
  cached ??= probeKernelLayers();
  return cached;
}

/** The full probe's answer to "why can bubblewrap not run here?" (runs bwrap: a few ms). */
export function explainBubblewrap(): BubblewrapStatus {
  const { bubblewrap, userNamespaces } = kernelLayers();
  if (!bubblewrap.available) {
    return { available: false, path: bubblewrap.path, version: null, problem: `bubblewrap (bwrap) is not usable: ${bubblewrap.detail}; install it with: ${installHint()}` };
  }
  if (!userNamespaces.available) {
    return { available: false, path: bubblewrap.path, version: bubblewrap.version, problem: `bubblewrap cannot create user namespaces here: ${userNamespaces.detail}` };
  }
  return { available: true, path: bubblewrap.path, version: bubblewrap.version, problem: null };
}
