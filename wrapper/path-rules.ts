/**
 * Which of a policy's filesystem rules governs a path, decided the same way everywhere a sandbox's
 * path is judged: the Node preload's router, the supervisor (sandbox-rules.ts), the snippets'
 * virtual file system (and, on real paths, the bridge's path-guard.ts; in Python, _mcpw/router.py).
 *
 * The deepest root that contains the path decides, so `--rw /d --ro /d/sub` leaves /d/sub
 * read-only and `--ro /d --rw /d/w` leaves /d/w writable. The same path listed both ways is
 * read-only. No dependencies: the Node preload bundles this file.
 */

/** A root as written, without a trailing slash ("/srv/data/" is the root /srv/data). */
export function rootOf(root: string): string {
  return root.length > 1 && root.endsWith("/") ? root.slice(0, -1) : root;
}

/** Is `path` the root itself or below it? */
export function within(path: string, root: string): boolean {
  const r = rootOf(root);
  return path === r || path.startsWith(r === "/" ? "/" : `${r}/`);
}

export type PathRule = { kind: "readonly" | "writable"; root: string };

/** The rule governing `path` (normalised, absolute), or null when no root contains it. */
export function governingRule(path: string, readonly: readonly string[], writable: readonly string[]): PathRule | null {
  let best: PathRule | null = null;
  const consider = (kind: PathRule["kind"], roots: readonly string[]) => {
    for (const root of roots) {
      const r = rootOf(root);
      // Roots that contain the path are all its ancestors: the longest is the deepest. On a tie
      // the readonly rule, considered first, stays.
      if (within(path, r) && (best === null || r.length > best.root.length)) best = { kind, root: r };
    }
  };
  consider("readonly", readonly);
  consider("writable", writable);
  return best;
}
