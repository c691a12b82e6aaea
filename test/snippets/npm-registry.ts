import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import type { Test } from "tap";

/** A package tarball as npm makes them: ustar entries under package/, gzipped. */
export function tarball(files: Record<string, string>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text);
    const header = Buffer.alloc(512);
    header.write(`package/${name}`, 0, 100);
    header.write("0000644\0", 100);
    header.write("0000000\0", 108);
    header.write("0000000\0", 116);
    header.write(`${data.length.toString(8).padStart(11, "0")}\0`, 124);
    header.write("00000000000\0", 136);
    header.write("        ", 148);
    header.write("0", 156);
    header.write("ustar\0", 257);
    header.write("00", 263);
    const sum = header.reduce((a, b) => a + b, 0);
    header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

export interface FakePackage {
  name: string;
  version: string;
  files: Record<string, string>;
  dependencies?: Record<string, string>;
  /** Announce a wrong integrity for it. */
  corrupt?: boolean;
}

/** A loopback npm registry: GET /<name> is the packument, GET /tarballs/<file> the tarball. */
export async function npmRegistry(t: Test, packages: FakePackage[]): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const tarballs = new Map<string, Buffer>();
  let base = "";
  const server = createServer((req, res) => {
    requests.push(req.url ?? "");
    const path = decodeURIComponent((req.url ?? "/").slice(1));
    if (path.startsWith("tarballs/")) {
      const data = tarballs.get(path.slice("tarballs/".length));
      return data ? res.end(data) : res.writeHead(404).end();
    }
    const versions = packages.filter((p) => p.name === path);
    if (versions.length === 0) return res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
    const doc = {
      name: path,
      "dist-tags": { latest: versions[versions.length - 1]!.version },
      versions: Object.fromEntries(
        versions.map((p) => {
          const file = `${p.name.replace("/", "-")}-${p.version}.tgz`;
          const data = tarball({ "package.json": JSON.stringify({ name: p.name, version: p.version, main: "index.js" }), ...p.files });
          tarballs.set(file, data);
          const integrity = `sha512-${createHash("sha512").update(p.corrupt ? Buffer.from("other") : data).digest("base64")}`;
          return [p.version, { name: p.name, version: p.version, dependencies: p.dependencies ?? {}, dist: { tarball: `${base}/tarballs/${file}`, integrity } }];
        }),
      ),
    };
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(doc));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => new Promise<void>((r) => (server.close(() => r()), server.closeAllConnections())));
  base = `http://localhost:${(server.address() as AddressInfo).port}`;
  return { url: base, requests };
}
