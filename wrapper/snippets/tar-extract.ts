import { gunzipSync } from "node:zlib";

/**
 * Reads an npm package tarball (gzip, ustar): regular files only, each path with its first
 * component (`package/`) dropped. A path that is absolute or climbs out with `..` is refused;
 * links, devices and directories carry nothing a bundle needs and are skipped.
 */
export interface TarFile {
  path: string;
  data: Buffer;
}

function field(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString("utf8");
}

export function extractPackageTarball(tgz: Buffer, what: string): TarFile[] {
  const tar = gunzipSync(tgz, { maxOutputLength: 256 * 1024 * 1024 });
  const files: TarFile[] = [];
  let longName: string | null = null;
  let paxPath: string | null = null;
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const size = parseInt(field(header, 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(header[156] || 48);
    const prefix = field(header, 345, 155);
    const name = field(header, 0, 100);
    const data = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === "L") {
      longName = data.toString("utf8").replace(/\0.*$/s, "");
      continue;
    }
    if (type === "x") {
      paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.toString("utf8"))?.[1] ?? null;
      continue;
    }
    const full = paxPath ?? longName ?? (prefix ? `${prefix}/${name}` : name);
    longName = paxPath = null;
    if (type !== "0" && type !== "\0" && type !== "7") continue;
    const parts = full.split("/").slice(1);
    if (full.startsWith("/") || parts.some((p) => p === "..") || parts.length === 0) throw new Error(`${what}: unsafe path ${JSON.stringify(full)} in the tarball`);
    files.push({ path: parts.filter((p) => p !== "" && p !== ".").join("/"), data: Buffer.from(data) });
  }
  return files;
}
