import { isIPv4, isIPv6 } from "node:net";

/**
 * IP addresses as bytes, with one canonical text form each, so that `::1`, `0:0::1` and
 * `0000::0001` compare equal and a policy entry matches however the caller spelled the address.
 */

export interface IpAddress {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
  /** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as `::`). */
  text: string;
}

/**
 * Parses a strict IP literal: a dotted quad without leading zeros, or an IPv6 address (optionally
 * in brackets). Zone ids (`fe80::1%eth0`) are refused. Returns null for anything else.
 */
export function parseIp(input: string): IpAddress | null {
  const s = input.startsWith("[") && input.endsWith("]") ? input.slice(1, -1) : input;
  if (s !== input && !s.includes(":")) return null; // brackets are for IPv6 only
  if (isIPv4(s)) return fromBytes(Uint8Array.from(s.split(".").map(Number)));
  if (s.includes("%") || !isIPv6(s)) return null;
  return fromBytes(parseIpv6Bytes(s));
}

/**
 * Parses the numeric IPv4 forms that the C library's `inet_aton` (and so `getaddrinfo`) also
 * accept: `127.1`, `0x7f.0.0.1`, `0177.0.0.1`, `2130706433`. They reach the same address as the
 * dotted quad, so a host given this way is an IP literal too. Returns null for anything else.
 */
export function parseLegacyIpv4(input: string): IpAddress | null {
  const parts = input.split(".");
  if (parts.length > 4) return null;
  const values: number[] = [];
  for (const part of parts) {
    const v = parseInetAtonNumber(part);
    if (v === null) return null;
    values.push(v);
  }
  // All parts but the last are single bytes; the last fills the remaining bytes.
  const last = values.pop() as number;
  if (values.some((v) => v > 255)) return null;
  const lastBytes = 4 - values.length;
  if (last >= 2 ** (8 * lastBytes)) return null;
  const bytes = new Uint8Array(4);
  values.forEach((v, i) => (bytes[i] = v));
  for (let i = 0; i < lastBytes; i++) bytes[3 - i] = Math.floor(last / 2 ** (8 * i)) % 256;
  return fromBytes(bytes);
}

function parseInetAtonNumber(part: string): number | null {
  let value: number;
  if (/^0x[0-9a-f]*$/i.test(part)) value = part.length === 2 ? 0 : parseInt(part.slice(2), 16);
  else if (/^0[0-7]*$/.test(part)) value = part.length === 1 ? 0 : parseInt(part.slice(1), 8);
  else if (/^[1-9][0-9]*$/.test(part)) value = parseInt(part, 10);
  else return null;
  return value <= 0xffffffff ? value : null;
}

/** The canonical text of an IP literal, or null when `input` is not one (see parseIp). */
export function canonicalIp(input: string): string | null {
  return parseIp(input)?.text ?? null;
}

export function fromBytes(bytes: Uint8Array): IpAddress {
  if (bytes.length === 4) return { family: 4, bytes, text: Array.from(bytes).join(".") };
  if (bytes.length === 16) return { family: 6, bytes, text: formatIpv6(bytes) };
  throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
}

function parseIpv6Bytes(s: string): Uint8Array {
  // isIPv6 has vouched for the syntax; only the layout is left to work out.
  const words: number[] = [];
  const toWords = (part: string): number[] => {
    if (part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (g.includes(".")) {
        const [a, b, c, d] = g.split(".").map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const gap = s.indexOf("::");
  if (gap === -1) words.push(...toWords(s));
  else {
    const head = toWords(s.slice(0, gap));
    const tail = toWords(s.slice(gap + 2));
    words.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  }
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  return bytes;
}

function formatIpv6(bytes: Uint8Array): string {
  const words = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i] as number) << 8) | (bytes[2 * i + 1] as number));
  // IPv4-mapped addresses keep their dotted tail, the form people recognise.
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${Array.from(bytes.subarray(12)).join(".")}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(":");
  if (bestStart === -1) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/** Whether the first `prefix` bits of two addresses of the same length agree. */
export function samePrefix(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  if (a.length !== b.length) return false;
  const full = Math.floor(prefix / 8);
  for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false;
  const rest = prefix % 8;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[full] as number) & mask) === ((b[full] as number) & mask);
}
