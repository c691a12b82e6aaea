import { BridgeOperations } from "../bridge/operations.js";
import { serveOperations } from "../bridge/daemon.js";
import { memoryLinkPair } from "../protocol/link.js";
import { Peer } from "../protocol/peer.js";
import type { BridgePolicyInput, Policy } from "../protocol/policy.js";
import { McpwServer } from "./server.js";

/**
 * The embedded default behind `mcpw run`: an in-process server and an in-process local bridge,
 * joined by a memory link. The bridge authenticates and registers exactly as a daemon would, so the
 * same checks run; nothing listens on a port.
 */
export interface Embedded {
  server: McpwServer;
  bridge: BridgeOperations;
  close(): Promise<void>;
}

/** The local bridge may do exactly what the sandbox policy grants, no more. */
export function bridgePolicyFor(policy: Policy): BridgePolicyInput {
  return {
    filesystem: { readonly: policy.filesystem.readonly, readwrite: policy.filesystem.writable },
    network: policy.network,
    exec: { allow: policy.exec.viaBridge },
  };
}

export async function startEmbedded(opts: { env: string; policy: Policy; auditPath: string | null; cwd?: string }): Promise<Embedded> {
  const server = new McpwServer({ config: { env: opts.env }, stateDir: null, auditPath: opts.auditPath, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  const bridge = new BridgeOperations(bridgePolicyFor(opts.policy), (entry) => server.audit.write({ ...entry, source: "bridge" }));
  const { token } = server.tokens.create("bridge", opts.env, "local");
  const [serverEnd, bridgeEnd] = memoryLinkPair("local bridge", "embedded server");
  server.attach(serverEnd);
  const peer = new Peer(bridgeEnd, { firstStreamId: 1 });
  serveOperations(peer, bridge);
  await peer.request("auth", { role: "bridge", token });
  await peer.request("bridge.register", { env: opts.env, name: "local", capabilities: bridge.capabilities });
  return {
    server,
    bridge,
    async close() {
      peer.close("done");
      await server.close();
    },
  };
}
