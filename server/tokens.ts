import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { McpwError } from "../protocol/errors.js";
import { TOKEN_PREFIX, TokenInfo, type Role } from "../protocol/methods.js";
import { writeFileAtomic } from "./state-dir.js";

/**
 * Token store. Tokens are 256 random bits shown once; only their SHA-256 is kept (tokens.json,
 * 0600). Verification hashes the presented token and compares it with every stored hash in
 * constant time, without stopping at the first match.
 */

const TokenRecord = TokenInfo.extend({ hash: z.string().regex(/^[a-f0-9]{64}$/) });
type TokenRecord = z.infer<typeof TokenRecord>;
const TokenFile = z.object({ version: z.literal(1), tokens: z.array(TokenRecord) }).strict();

const TOKEN_BODY = /^[A-Za-z0-9_-]{43}$/;
export const ADMIN_TOKEN_FILE = "admin.token";

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

export interface TokenStoreOptions {
  /** Directory holding tokens.json and admin.token; null keeps everything in memory (embedded use). */
  dir: string | null;
  now?: () => Date;
}

export class TokenStore {
  private records: TokenRecord[] = [];
  /** The token in `<dir>/admin.token` since ensureAdminToken: the one the CLI and TUI use. */
  private admin: { id: string; path: string } | null = null;
  private readonly file: string | null;
  private readonly now: () => Date;

  constructor(opts: TokenStoreOptions) {
    this.file = opts.dir ? join(opts.dir, "tokens.json") : null;
    this.now = opts.now ?? (() => new Date());
    if (this.file && existsSync(this.file)) {
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(this.file, "utf8"));
      } catch (e) {
        throw new Error(`token store ${this.file} is not valid JSON (${(e as Error).message}); fix or remove it`);
      }
      const parsed = TokenFile.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(`token store ${this.file} is malformed at ${issue?.path.join(".") || "(root)"}: ${issue?.message}; fix or remove it`);
      }
      this.records = parsed.data.tokens;
    }
  }

  create(kind: "admin" | "bridge", env: string | null, name: string, expiresInSec?: number): { token: string; info: TokenInfo } {
    const token = generateToken();
    const now = this.now();
    const rec: TokenRecord = {
      id: `tok_${randomBytes(8).toString("hex")}`,
      kind,
      env,
      name,
      createdAt: now.toISOString(),
      expiresAt: expiresInSec ? new Date(now.getTime() + expiresInSec * 1000).toISOString() : null,
      revokedAt: null,
      lastUsedAt: null,
      hash: sha256(token).toString("hex"),
    };
    this.records.push(rec);
    this.save();
    return { token, info: publicInfo(rec) };
  }

  /**
   * Returns the token's record if it is well-formed, known, unexpired, unrevoked and of the kind the
   * role needs; otherwise throws `unauthorized` with the reason.
   */
  verify(token: string, role: Role): TokenInfo {
    if (!token.startsWith(TOKEN_PREFIX) || !TOKEN_BODY.test(token.slice(TOKEN_PREFIX.length))) {
      throw new McpwError("unauthorized", `malformed token: expected ${TOKEN_PREFIX} followed by 43 base64url characters`, { field: "params.token" });
    }
    const presented = sha256(token);
    let match: TokenRecord | null = null;
    for (const rec of this.records) {
      // Constant time per record, and every record is compared.
      const equal = timingSafeEqual(presented, Buffer.from(rec.hash, "hex"));
      if (equal && match === null) match = rec;
    }
    if (!match) throw new McpwError("unauthorized", "unknown token");
    if (match.revokedAt) throw new McpwError("unauthorized", `token ${match.id} was revoked at ${match.revokedAt}`);
    if (match.expiresAt && Date.parse(match.expiresAt) <= this.now().getTime()) {
      throw new McpwError("unauthorized", `token ${match.id} expired at ${match.expiresAt}`);
    }
    const needed = role === "client" ? "admin" : "bridge";
    if (match.kind !== needed) {
      throw new McpwError("unauthorized", `${article(match.kind)} ${match.kind} token cannot authenticate a ${role}; use ${article(needed)} ${needed} token`);
    }
    match.lastUsedAt = this.now().toISOString();
    this.save();
    return publicInfo(match);
  }

  list(): TokenInfo[] {
    return this.records.map(publicInfo);
  }

  get(id: string): TokenInfo | null {
    const rec = this.records.find((r) => r.id === id);
    return rec ? publicInfo(rec) : null;
  }

  revoke(id: string): TokenInfo {
    const rec = this.records.find((r) => r.id === id);
    if (!rec) throw new McpwError("not_found", `no token with id ${id}`, { field: "params.id" });
    if (!rec.revokedAt) {
      rec.revokedAt = this.now().toISOString();
      this.save();
    }
    return publicInfo(rec);
  }

  /**
   * Makes sure a usable admin token exists in `<dir>/admin.token` (0600). Returns the file path and
   * whether a new token was written.
   */
  ensureAdminToken(dir: string): { path: string; created: boolean } {
    const path = join(dir, ADMIN_TOKEN_FILE);
    if (existsSync(path)) {
      const token = readFileSync(path, "utf8").trim();
      try {
        this.admin = { id: this.verify(token, "client").id, path };
        return { path, created: false };
      } catch {
        // stale (revoked, expired or from another store): replace it below
      }
    }
    const { token, info } = this.create("admin", null, "admin");
    writeFileAtomic(path, `${token}\n`);
    this.admin = { id: info.id, path };
    return { path, created: true };
  }

  /** The admin token in use (see ensureAdminToken), or null. */
  currentAdmin(): { id: string; path: string } | null {
    return this.admin;
  }

  private save(): void {
    if (!this.file) return;
    writeFileAtomic(this.file, `${JSON.stringify({ version: 1, tokens: this.records }, null, 2)}\n`);
  }
}

function article(word: string): "a" | "an" {
  return /^[aeiou]/.test(word) ? "an" : "a";
}

function publicInfo(rec: TokenRecord): TokenInfo {
  const { hash: _hash, ...info } = rec;
  return info;
}
