import type { ServerResponse } from "node:http";

/** `/redirect/N`: a chain of N 302 redirects ending in 200 "arrived". Returns false for other paths. */
export function redirectChain(pathname: string, res: ServerResponse): boolean {
  const m = /^\/redirect\/(\d+)$/.exec(pathname);
  if (!m) return false;
  const n = Number(m[1]);
  res.writeHead(n === 0 ? 200 : 302, n === 0 ? {} : { location: `/redirect/${n - 1}` });
  res.end(n === 0 ? "arrived" : "");
  return true;
}
