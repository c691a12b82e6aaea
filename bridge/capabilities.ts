import { type BridgeCapabilities, BridgePolicy, type BridgePolicyInput, describeExecAllow } from "../protocol/policy.js";

/** What a bridge announces when it registers: the parts of its policy an operator needs to see. */
export function capabilitiesOf(input: BridgePolicy | BridgePolicyInput): BridgeCapabilities {
  const policy = BridgePolicy.parse(input);
  return {
    fs: { readonly: [...policy.filesystem.readonly], readwrite: [...policy.filesystem.readwrite] },
    network: { allowedDomains: [...policy.network.allowedDomains], deniedDomains: [...policy.network.deniedDomains] },
    exec: policy.exec.allow.map(describeExecAllow),
  };
}
