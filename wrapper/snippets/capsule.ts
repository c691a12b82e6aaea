import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { McpwError } from "../../protocol/errors.js";
import { Policy } from "../../protocol/policy.js";
import { writeFileAtomic } from "../../server/state-dir.js";

/**
 * A capsule is what actually runs: the (bundled) code, the runtime it is for, and the effective
 * policy, as one canonical JSON document. Its address is the SHA-256 of that document; it is
 * signed with the server's Ed25519 key (`<stateDir>/capsule-signing.key`, 0600, made on first
 * use) and cached on disk as `<cacheDir>/capsules/<sha256>.json`. Before every run the file is
 * read back, its hash compared with its address and its signature verified; a capsule that fails
 * either check is refused and nothing runs.
 */

export const CapsuleContent = z
  .object({
    runtime: z.string(),
    code: z.string(),
    policy: Policy,
    dependencies: z.record(z.string(), z.string()).default({}),
  })
  .strict();
export type CapsuleContent = z.infer<typeof CapsuleContent>;

const CapsuleFile = z.object({ content: z.string(), signature: z.base64() }).strict();

/** JSON with keys sorted at every level, so equal content has one address. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

export class CapsuleStore {
  private readonly dir: string;
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  /** Verified capsules by address, so a hot path reads and checks the file, but parses once. */
  private readonly parsed = new Map<string, CapsuleContent>();

  constructor(cacheDir: string, keyDir: string) {
    this.dir = join(cacheDir, "capsules");
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const keyFile = join(keyDir, "capsule-signing.key");
    if (!existsSync(keyFile)) {
      const { privateKey } = generateKeyPairSync("ed25519");
      mkdirSync(keyDir, { recursive: true, mode: 0o700 });
      writeFileAtomic(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }).toString());
    }
    this.privateKey = createPrivateKey(readFileSync(keyFile));
    this.publicKey = createPublicKey(this.privateKey);
  }

  /** Stores the capsule (unless it is already cached) and returns its address. */
  seal(content: CapsuleContent): string {
    const text = canonicalJson(content);
    const id = createHash("sha256").update(text).digest("hex");
    const file = this.path(id);
    if (!existsSync(file)) {
      const signature = sign(null, Buffer.from(text), this.privateKey).toString("base64");
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ content: text, signature }), { mode: 0o600 });
      renameSync(tmp, file);
    }
    return id;
  }

  /** Reads the capsule at `id` and verifies it; throws `policy_denied` (rule capsule.integrity) if it was tampered with. */
  open(id: string): CapsuleContent {
    const file = this.path(id);
    const refuse = (why: string) =>
      new McpwError("policy_denied", `capsule ${id} was refused: ${why}; it was not run (delete ${file} to rebuild it)`, { rule: "capsule.integrity" });
    let stored: z.infer<typeof CapsuleFile>;
    try {
      stored = CapsuleFile.parse(JSON.parse(readFileSync(file, "utf8")));
    } catch (e) {
      throw refuse(`its file is unreadable or malformed (${(e as Error).message.split("\n")[0]})`);
    }
    if (createHash("sha256").update(stored.content).digest("hex") !== id) throw refuse("its content does not match its SHA-256 address");
    if (!verify(null, Buffer.from(stored.content), this.publicKey, Buffer.from(stored.signature, "base64"))) throw refuse("its Ed25519 signature does not verify");
    const cached = this.parsed.get(id);
    if (cached) return cached;
    const content = CapsuleContent.parse(JSON.parse(stored.content));
    this.parsed.set(id, content);
    return content;
  }

  path(id: string): string {
    return join(this.dir, `${id}.json`);
  }
}
