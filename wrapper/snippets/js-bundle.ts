import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { McpwError } from "../../protocol/errors.js";
import { canonicalJson } from "./capsule.js";
import { installDependencies, type RegistryFetch } from "./npm-install.js";

/**
 * A run_js snippet with `npm.dependencies` becomes one script: the packages are installed (through
 * the bridge, see npm-install.ts) into `<cacheDir>/npm/installs/<key>` — keyed by the dependencies
 * and registry, so other snippets with the same dependencies reuse them — and the code is bundled
 * with esbuild (ESM output: with no exports it is a plain script whose last statement is still the
 * snippet's last expression). Bundles are cached by code + dependencies.
 */

export interface Bundle {
  code: string;
  /** Installed packages: path under node_modules → version. */
  installed: Record<string, string>;
}

const key = (value: unknown) => createHash("sha256").update(canonicalJson(value)).digest("hex");

export async function bundleWithDependencies(code: string, dependencies: Record<string, string>, registry: string, fetch: RegistryFetch, cacheDir: string): Promise<Bundle> {
  const installKey = key({ dependencies, registry });
  const bundleFile = join(cacheDir, "npm", "bundles", `${key({ code, installKey })}.json`);
  if (existsSync(bundleFile)) return JSON.parse(readFileSync(bundleFile, "utf8")) as Bundle;

  const installDir = join(cacheDir, "npm", "installs", installKey);
  const done = join(installDir, ".mcpw-installed.json");
  let installed: Record<string, string>;
  if (existsSync(done)) installed = JSON.parse(readFileSync(done, "utf8")) as Record<string, string>;
  else {
    const tmp = `${installDir}.${process.pid}.${Date.now()}.tmp`;
    mkdirSync(tmp, { recursive: true, mode: 0o700 });
    try {
      installed = await installDependencies(dependencies, registry, fetch, tmp);
      writeFileSync(join(tmp, ".mcpw-installed.json"), JSON.stringify(installed));
      rmSync(installDir, { recursive: true, force: true });
      renameSync(tmp, installDir);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  const entry = join(installDir, `entry-${process.pid}-${Date.now()}.js`);
  writeFileSync(entry, code);
  let bundled: string;
  try {
    const result = await build({
      entryPoints: [entry],
      absWorkingDir: installDir,
      bundle: true,
      format: "esm",
      platform: "neutral",
      mainFields: ["module", "main"],
      target: "es2022",
      write: false,
      logLevel: "silent",
    });
    bundled = result.outputFiles[0]!.text;
  } catch (e) {
    const errors = (e as { errors?: { text: string; location?: { line: number } | null }[] }).errors ?? [];
    const first = errors[0];
    throw new McpwError("bad_params", `code: bundling with its npm dependencies failed: ${first ? `${first.text}${first.location ? ` (line ${first.location.line})` : ""}` : (e as Error).message}`, { field: "code" });
  } finally {
    rmSync(entry, { force: true });
  }
  const bundle: Bundle = { code: bundled, installed };
  mkdirSync(join(cacheDir, "npm", "bundles"), { recursive: true, mode: 0o700 });
  writeFileSync(bundleFile, JSON.stringify(bundle), { mode: 0o600 });
  return bundle;
}
