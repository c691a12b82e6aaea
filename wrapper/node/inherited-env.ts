/**
 * The variables that carry the sandbox's plumbing (NODE_OPTIONS with the preload, the channel dir,
 * the proxy) survive a program that gives its child or worker an environment of its own: a
 * program's own NODE_OPTIONS is kept and the preload appended to it; every other inherited
 * variable is mcpw's.
 */
export type InheritedEnv = Record<string, string>;

/** For an env given as `KEY=value` pairs (what ChildProcess.prototype.spawn receives). */
export function withInheritedEnv(envPairs: string[] | undefined, inherited: InheritedEnv): string[] | undefined {
  if (!envPairs) return envPairs;
  const out = envPairs.filter((p) => !Object.hasOwn(inherited, p.slice(0, p.indexOf("="))) || p.startsWith("NODE_OPTIONS="));
  for (const [k, v] of Object.entries(inherited)) {
    const i = out.findIndex((p) => p.startsWith(`${k}=`));
    if (k === "NODE_OPTIONS" && i >= 0) {
      if (!out[i]!.includes(v)) out[i] = `${out[i]} ${v}`;
    } else if (i < 0) out.push(`${k}=${v}`);
  }
  return out;
}

/** withInheritedEnv for an options.env object (the sync child_process forms, a Worker's env). */
export function withInheritedEnvObject(env: NodeJS.ProcessEnv, inherited: InheritedEnv): NodeJS.ProcessEnv {
  const pairs = Object.entries(env)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  const out: NodeJS.ProcessEnv = {};
  for (const p of withInheritedEnv(pairs, inherited)!) {
    const eq = p.indexOf("=");
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}
