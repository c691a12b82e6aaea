/**
 * import() for packages that must load late (the MCP SDK, ESM-only UI libraries). Inside the CLI
 * bundle, which runs from a V8 code cache (bin/load-bundle.js), V8 drops the loader a bundled
 * import() needs; bin/mcpw.js, a real ES module, lends its own import() instead.
 */
export function importModule<T = Record<string, any>>(specifier: string): Promise<T> {
  const lent = (globalThis as { __mcpwImport?: (s: string) => Promise<unknown> }).__mcpwImport;
  return (lent ? lent(specifier) : import(specifier)) as Promise<T>;
}
