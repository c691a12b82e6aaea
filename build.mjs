// The build after tsc (npm run build): esbuild bundles of what must start fast.
//  - dist/sandbox/: what runs inside a sandbox (bound read-only at /opt/mcpw/dist/sandbox): the Node
//    preload, the viaBridge exec shim and the proxy as dependency-free CommonJS; sandbox-init as one
//    CommonJS file (koffi stays external); the Python sitecustomize, copied.
//  - dist/cli/mcpw.cjs: the mcpw command, with a V8 code cache (bin/load-bundle.js). Loading the
//    unbundled modules (zod alone is hundreds of files) cost ~300 ms of every `mcpw run` start.
//  - dist/cli/run-start.cjs: mcpw run's first half (no zod), loaded first to spawn the sandbox.
//  - dist/cli/reaper.cjs: what a best-effort sandbox runs under (native/reaper.ts).
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const sandbox = join(root, "dist", "sandbox");
mkdirSync(sandbox, { recursive: true });
const common = { bundle: true, platform: "node", target: "node20", logLevel: "warning" };
// Native and wasm packages load files relative to themselves; they stay in node_modules.
const external = ["koffi", "node-pty", "pyodide", "quickjs-emscripten", "esbuild", "ink", "react", "@modelcontextprotocol/*"];
// zod re-exports every locale (z.locales) and sets English as its own default; mcpw uses only
// English, so the others (~300 KB of the CLI bundle, loaded on every command) are left out.
const englishOnlyZod = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic|core)$/.test(args.resolveDir) ? { path: "zod-locales-en", namespace: "mcpw" } : undefined,
    );
    b.onLoad({ filter: /^zod-locales-en$/, namespace: "mcpw" }, () => ({
      contents: 'export { default as en } from "zod/v4/locales/en.js";',
      resolveDir: root,
      loader: "js",
    }));
  },
};
// In a CommonJS bundle, import.meta.url (install-paths.ts, libc.ts) becomes the bundle's own URL.
const bundleUrl = {
  define: { "import.meta.url": "__mcpwBundleUrl" },
  banner: { js: 'const __mcpwBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
};

await Promise.all([
  ...[
    ["preload.ts", "node-preload.cjs"],
    ["exec-shim.ts", "exec-via-bridge.cjs"],
    ["proxy.ts", "proxy.cjs"],
  ].map(([entry, file]) => build({ ...common, entryPoints: [join(root, "wrapper", "node", entry)], outfile: join(sandbox, file), format: "cjs" })),
  // CommonJS, not ESM: Node reaches a CommonJS entry ~15 ms sooner, on every sandbox start.
  build({ ...common, entryPoints: [join(root, "native", "sandbox-init.ts")], outfile: join(sandbox, "sandbox-init.cjs"), format: "cjs", external, ...bundleUrl }),
  // What a best-effort sandbox runs under, outside it (native/reaper.ts).
  build({ ...common, entryPoints: [join(root, "native", "reaper.ts")], outfile: join(root, "dist", "cli", "reaper.cjs"), format: "cjs", external, ...bundleUrl }),
  ...[
    ["cli.ts", "mcpw.cjs"],
    ["run-start.ts", "run-start.cjs"],
  ].map(([entry, file]) =>
    build({
      ...common,
      entryPoints: [join(root, "client", entry)],
      outfile: join(root, "dist", "cli", file),
      format: "cjs",
      external,
      plugins: [englishOnlyZod],
      ...bundleUrl,
    }),
  ),
]);
// The code cache is made by a fresh process running the bundle as bin/mcpw.js will.
for (const file of ["mcpw.cjs", "run-start.cjs"]) {
  execFileSync(process.execPath, ["-e", `require(${JSON.stringify(join(root, "bin", "load-bundle.js"))}).loadBundle(${JSON.stringify(join(root, "dist", "cli", file))}, { writeCache: true });`], { stdio: "inherit" });
}
const python = join(sandbox, "python");
rmSync(python, { recursive: true, force: true });
cpSync(join(root, "wrapper", "python"), python, { recursive: true, filter: (src) => !src.includes("__pycache__") });
// /opt/mcpw is read-only inside a sandbox, so Python cannot cache bytecode there: without these
// .pyc files every Python process would compile the interceptors again (~10 ms). Best effort, for
// each interpreter found here (each version gets its own cpython-3XY.pyc).
for (const interpreter of ["python3", "/usr/bin/python3"]) {
  try {
    execFileSync(interpreter, ["-m", "compileall", "-q", python], { stdio: "ignore" });
  } catch {
    // that interpreter is not installed
  }
}
