import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { McpwError } from "../../protocol/errors.js";
import { maxSatisfying } from "./npm-semver.js";
import { extractPackageTarball } from "./tar-extract.js";

/**
 * Installs `npm.dependencies` into a directory, fetching every registry document and tarball with
 * `fetch` — which, for snippets, is an http.request through the bridge under the snippet's
 * network policy, so the registry must be allowed like any other host. Dependencies are resolved
 * transitively (flat where versions agree, nested under the dependent where they do not), and
 * every tarball is checked against the registry's integrity (sha512) or shasum before use.
 */

export type RegistryFetch = (url: string) => Promise<{ status: number; body: Buffer }>;

interface Manifest {
  versions?: Record<string, { dependencies?: Record<string, string>; dist?: { tarball?: string; integrity?: string; shasum?: string } }>;
  "dist-tags"?: { latest?: string };
}

const MAX_PACKAGES = 200;

function fail(message: string): never {
  throw new McpwError("bad_params", `npm: ${message}`, { field: "npm.dependencies" });
}

function checkIntegrity(data: Buffer, dist: { integrity?: string; shasum?: string }, what: string): void {
  const sri = dist.integrity?.split(/\s+/).find((s) => s.startsWith("sha512-"));
  if (sri) {
    if (createHash("sha512").update(data).digest("base64") !== sri.slice(7)) fail(`${what}: the tarball does not match its sha512 integrity`);
  } else if (dist.shasum) {
    if (createHash("sha1").update(data).digest("hex") !== dist.shasum) fail(`${what}: the tarball does not match its shasum`);
  } else fail(`${what}: the registry gave no integrity for the tarball`);
}

/** Installs into `<dir>/node_modules`; returns what was installed, as "name@version" keys by path. */
export async function installDependencies(dependencies: Record<string, string>, registry: string, fetch: RegistryFetch, dir: string): Promise<Record<string, string>> {
  const manifests = new Map<string, Promise<Manifest>>();
  const manifest = (name: string) => {
    let m = manifests.get(name);
    if (!m) {
      const url = `${registry.replace(/\/$/, "")}/${name.replace("/", "%2f")}`;
      m = fetch(url).then((r) => {
        if (r.status !== 200) fail(`${name}: the registry answered ${r.status} for ${url}`);
        try {
          return JSON.parse(r.body.toString("utf8")) as Manifest;
        } catch {
          return fail(`${name}: the registry's answer is not JSON`);
        }
      });
      manifests.set(name, m);
    }
    return m;
  };
  const installed: Record<string, string> = {};
  /** Which version sits at <base>/node_modules/<name>. */
  const placed = new Map<string, string>();
  const queue: { name: string; range: string; base: string }[] = Object.entries(dependencies).map(([name, range]) => ({ name, range, base: dir }));
  while (queue.length) {
    const { name, range, base } = queue.shift()!;
    const m = await manifest(name);
    const versions = Object.keys(m.versions ?? {});
    const version = maxSatisfying(versions, range, m["dist-tags"]?.latest) ?? fail(`${name}: no version matches ${JSON.stringify(range)} (the registry has ${versions.slice(-5).join(", ") || "none"})`);
    // Flat when the top level has no other version of it; otherwise nested under its dependent.
    const top = placed.get(join(dir, "node_modules", name));
    const target = top === undefined || top === version ? dir : base;
    const where = join(target, "node_modules", name);
    if (placed.get(where) === version) continue;
    if (Object.keys(installed).length >= MAX_PACKAGES) fail(`more than ${MAX_PACKAGES} packages`);
    const meta = m.versions![version]!;
    const tarball = meta.dist?.tarball ?? fail(`${name}@${version}: no tarball in the registry's answer`);
    const r = await fetch(tarball);
    if (r.status !== 200) fail(`${name}@${version}: the registry answered ${r.status} for the tarball`);
    checkIntegrity(r.body, meta.dist ?? {}, `${name}@${version}`);
    for (const file of extractPackageTarball(r.body, `${name}@${version}`)) {
      const path = join(where, file.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, file.data);
    }
    placed.set(where, version);
    installed[where.slice(dir.length + 1)] = version;
    for (const [dep, depRange] of Object.entries(meta.dependencies ?? {})) queue.push({ name: dep, range: depRange, base: where });
  }
  return installed;
}
