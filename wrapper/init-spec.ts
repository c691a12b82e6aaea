import type { SandboxInitSpecInput } from "../native/sandbox-init-spec.js";
import type { Policy } from "../protocol/policy.js";
import { etcFiles, minimalCover, SANDBOX_PATHS } from "./bwrap-args.js";
import { executables } from "./executables.js";

/** Port of the in-sandbox HTTP/SOCKS proxy on the sandbox's own 127.0.0.1 (each sandbox has its own). */
export const PROXY_PORT = 17831;

export interface InitSpecInput {
  policy: Policy;
  /** Target argv, argv[0] absolute. */
  argv: string[];
  /** The target's whole environment. */
  env: Record<string, string>;
  /** Node binary inside the sandbox (same path as on the host). */
  node: string;
  /**
   * false: no seccomp filter and no landlock (namespaces, uid and rlimits stay). Only for the
   * kernel-layers benchmark, which measures what they cost; never set from a policy.
   */
  kernelLayers?: boolean;
  /** Where things are, as seen by the sandbox. */
  paths: {
    workspace: string;
    runDir: string;
    /** mcpw's dist/ inside the sandbox. */
    dist: string;
    /** Trees the program needs to read and execute (runtime, its package). */
    readExec: string[];
    /** Files and trees it may read (the /etc entries, passwd). */
    readOnly: string[];
    /** Under bubblewrap the root holds only what was bound, so listing it is harmless; not so on the host. */
    listRoot: boolean;
  };
}

/**
 * What sandbox-init applies before it becomes the target: landlock (write only under the workspace,
 * /tmp and /dev; read and execute only the trees the launcher binds), the seccomp filter, the
 * policy's rlimits, and the in-sandbox proxy when the policy lets any network through.
 */
export function buildInitSpec(input: InitSpecInput): SandboxInitSpecInput {
  const { policy, paths } = input;
  const l = policy.limits;
  const env = { ...input.env };
  const helpers: NonNullable<SandboxInitSpecInput["helpers"]> = [];
  if (policy.network.allowedDomains.length > 0) {
    const proxy = `http://127.0.0.1:${PROXY_PORT}`;
    Object.assign(env, { HTTP_PROXY: proxy, HTTPS_PROXY: proxy, http_proxy: proxy, https_proxy: proxy, ALL_PROXY: `socks5h://127.0.0.1:${PROXY_PORT}`, all_proxy: `socks5h://127.0.0.1:${PROXY_PORT}` });
    // The sandbox's own loopback stays direct, unless the policy points loopback names at the host.
    const hostLoopback = policy.network.allowedDomains.some((d) => /^(localhost|127\.|\[::1\]|::1)/i.test(d));
    if (!hostLoopback) Object.assign(env, { NO_PROXY: "localhost,127.0.0.1,::1", no_proxy: "localhost,127.0.0.1,::1" });
    helpers.push({ argv: [input.node, `${paths.dist}/sandbox/proxy.cjs`, String(PROXY_PORT)], env: { MCPW_CHANNEL_DIR: paths.runDir, PATH: "/usr/bin:/bin" } });
  }
  return {
    v: 1,
    argv: input.argv,
    env,
    cwd: paths.workspace,
    isolation: policy.isolation,
    seccomp: input.kernelLayers !== false,
    landlock: input.kernelLayers === false ? null : {
      mode: policy.isolation,
      readExec: minimalCover(["/usr", ...paths.readExec], []),
      // Only these may be executed (a readable /usr is not a licence to run every program in it).
      executeOnly: executables({ target: input.argv[0]!, node: input.node, allow: policy.exec.allow }),
      readOnly: [...paths.readOnly, "/proc", paths.runDir],
      readWrite: [paths.workspace, "/tmp", "/dev"],
      listOnly: paths.listRoot ? ["/"] : [],
    },
    rlimits: {
      memMb: l.memMb,
      maxProcs: l.maxProcs,
      maxFileMb: l.maxFileMb,
      openFiles: l.openFiles,
      ...(l.cpuSeconds > 0 ? { cpuSeconds: l.cpuSeconds } : {}),
    },
    helpers,
  };
}

/** The read-only entries of an isolated sandbox: the /etc files and generated passwd/group. */
export function isolatedReadOnly(files: Record<string, string>): string[] {
  return [...etcFiles(), ...Object.keys(files)];
}

export { SANDBOX_PATHS };
