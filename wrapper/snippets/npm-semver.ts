/**
 * The small part of semver that `npm.dependencies` accepts (see NpmRange in schemas.ts): an exact
 * version, `^x.y.z`, `~x.y.z`, `x`, `x.y`, `x.x`-style wildcards, `*` and `latest`. Prerelease
 * versions are chosen only when asked for exactly.
 */

type Triple = [number, number, number];

function parse(version: string): { v: Triple; pre: string } | null {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$/.exec(version);
  return m ? { v: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ?? "" } : null;
}

function compare(a: Triple, b: Triple): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** Whether `version` satisfies `range`. */
export function satisfies(version: string, range: string): boolean {
  const parsed = parse(version);
  if (!parsed) return false;
  if (range === version) return true;
  if (parsed.pre) return false;
  const v = parsed.v;
  if (range === "*" || range === "latest" || range === "x") return true;
  const m = /^([~^]?)(\d+)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?$/.exec(range);
  if (!m) return false;
  const op = m[1];
  const parts = [m[2], m[3], m[4]].map((p) => (p === undefined || p === "x" || p === "*" ? null : Number(p)));
  const [major, minor, patch] = parts as [number, number | null, number | null];
  const low: Triple = [major, minor ?? 0, patch ?? 0];
  if (compare(v, low) < 0) return false;
  let high: Triple; // exclusive
  if (op === "^") high = major > 0 || minor === null ? [major + 1, 0, 0] : minor > 0 || patch === null ? [0, minor + 1, 0] : [0, 0, patch + 1];
  else if (op === "~" || patch === null) high = minor === null ? [major + 1, 0, 0] : [major, minor + 1, 0];
  else return compare(v, low) === 0;
  return compare(v, high) < 0;
}

/** The highest of `versions` that satisfies `range` (`latest` prefers the registry's latest tag). */
export function maxSatisfying(versions: readonly string[], range: string, latest?: string): string | null {
  if (range === "latest" && latest && versions.includes(latest)) return latest;
  let best: { version: string; v: Triple } | null = null;
  for (const version of versions) {
    if (!satisfies(version, range)) continue;
    const p = parse(version)!;
    if (!best || compare(p.v, best.v) > 0) best = { version, v: p.v };
  }
  return best?.version ?? null;
}
