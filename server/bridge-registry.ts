import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { BridgeInfo } from "../protocol/methods.js";
import type { BridgeCapabilities } from "../protocol/policy.js";
import type { Peer } from "../protocol/peer.js";

export interface RegisteredBridge {
  id: string;
  env: string;
  name: string;
  tokenId: string;
  capabilities: BridgeCapabilities;
  peer: Peer;
  connectedSince: Date;
  remoteAddress: string;
  requestsServed: number;
  lastError: string | null;
}

/**
 * Bridges per environment. The first to register for an environment is active; later ones wait as
 * standby, in order, and the oldest standby takes over when the active one drops.
 */
export class BridgeRegistry extends EventEmitter<{
  /** The set of bridges, or which is active, changed. */
  change: [];
  /** `bridge` became the active bridge of its environment (on register or on takeover). */
  activated: [bridge: RegisteredBridge, takeover: boolean];
}> {
  /** env → bridges, active first. */
  private readonly byEnv = new Map<string, RegisteredBridge[]>();

  register(b: Omit<RegisteredBridge, "id" | "connectedSince" | "requestsServed" | "lastError">): RegisteredBridge {
    const bridge: RegisteredBridge = {
      ...b,
      id: `br_${randomBytes(6).toString("hex")}`,
      connectedSince: new Date(),
      requestsServed: 0,
      lastError: null,
    };
    const list = this.byEnv.get(bridge.env) ?? [];
    list.push(bridge);
    this.byEnv.set(bridge.env, list);
    if (list.length === 1) this.emit("activated", bridge, false);
    this.emit("change");
    return bridge;
  }

  unregister(id: string): void {
    for (const [env, list] of this.byEnv) {
      const i = list.findIndex((b) => b.id === id);
      if (i < 0) continue;
      list.splice(i, 1);
      if (list.length === 0) this.byEnv.delete(env);
      else if (i === 0) this.emit("activated", list[0]!, true);
      this.emit("change");
      return;
    }
  }

  active(env: string): RegisteredBridge | null {
    return this.byEnv.get(env)?.[0] ?? null;
  }

  isActive(b: RegisteredBridge): boolean {
    return this.active(b.env)?.id === b.id;
  }

  all(): RegisteredBridge[] {
    return [...this.byEnv.values()].flat();
  }

  byToken(tokenId: string): RegisteredBridge[] {
    return this.all().filter((b) => b.tokenId === tokenId);
  }

  info(): BridgeInfo[] {
    return this.all().map((b) => ({
      id: b.id,
      env: b.env,
      name: b.name,
      active: this.isActive(b),
      capabilities: b.capabilities,
      connectedSince: b.connectedSince.toISOString(),
      remoteAddress: b.remoteAddress,
      requestsServed: b.requestsServed,
      lastError: b.lastError,
    }));
  }
}
