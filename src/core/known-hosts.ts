/**
 * OpenSSH known_hosts parsing and host key checking. Pure: the caller reads the file.
 * Follows sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT" and hostfile.c/match.c semantics.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority';
  /** Host patterns of a plain entry; empty for a hashed entry. */
  patterns: string[];
  hashed?: { salt: Buffer; hash: Buffer };
  keyType: string;
  /** Raw SSH public key blob (the base64 field, decoded). */
  key: Buffer;
}

export type HostKeyVerdict = 'match' | 'mismatch' | 'unknown' | 'revoked';

const MARKERS = new Set(['@revoked', '@cert-authority']);
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const HASH_MAGIC = '|1|';

/** Parse known_hosts text; lines OpenSSH would skip (comments, blanks, malformed) are skipped. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const entry = parseLine(line);
    if (entry) entries.push(entry);
  }
  return entries;
}

function parseLine(line: string): KnownHostEntry | undefined {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  const fields = trimmed.split(/\s+/);

  let marker: KnownHostEntry['marker'];
  if (fields[0]!.startsWith('@')) {
    // OpenSSH ignores lines with a marker it does not know.
    if (!MARKERS.has(fields[0]!)) return undefined;
    marker = fields.shift() as KnownHostEntry['marker'];
  }
  const [hostField, keyType, keyBase64] = fields;
  if (!hostField || !keyType || !keyBase64 || !BASE64.test(keyBase64)) return undefined;

  const key = Buffer.from(keyBase64, 'base64');
  // The blob names its own type; a line whose blob disagrees is corrupt (sshkey_read rejects it).
  if (blobKeyType(key) !== keyType) return undefined;

  const entry: KnownHostEntry = { patterns: [], keyType, key };
  if (marker) entry.marker = marker;
  if (hostField.startsWith(HASH_MAGIC)) {
    const hashed = parseHashedHost(hostField);
    if (!hashed) return undefined;
    entry.hashed = hashed;
  } else {
    entry.patterns = hostField.split(',').filter((p) => p !== '');
  }
  return entry;
}

/** `|1|base64salt|base64hash` → salt and HMAC-SHA1 hash, or undefined if malformed. */
function parseHashedHost(field: string): { salt: Buffer; hash: Buffer } | undefined {
  const [salt64, hash64, ...rest] = field.slice(HASH_MAGIC.length).split('|');
  if (!salt64 || !hash64 || rest.length > 0 || !BASE64.test(salt64) || !BASE64.test(hash64)) return undefined;
  const salt = Buffer.from(salt64, 'base64');
  const hash = Buffer.from(hash64, 'base64');
  if (salt.length !== 20 || hash.length !== 20) return undefined;
  return { salt, hash };
}

/** The key type string at the start of an SSH public key blob (uint32 length + name). */
function blobKeyType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || 4 + length > blob.length) return undefined;
  return blob.toString('latin1', 4, 4 + length);
}

/** The name OpenSSH looks up in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/**
 * Verdict for `key` presented by `host`:`port`. A revoked key wins; then an exact key blob match;
 * any other known key for the host (of any type) is a mismatch, as in OpenSSH's
 * "REMOTE HOST IDENTIFICATION HAS CHANGED"; no plain entry for the host is unknown.
 */
export function checkHostKey(entries: KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const forHost = entriesForHost(entries, host, port);
  if (forHost.some((e) => e.marker === '@revoked' && e.key.equals(key))) return 'revoked';
  const plain = forHost.filter((e) => e.marker === undefined);
  if (plain.some((e) => e.key.equals(key))) return 'match';
  return plain.length > 0 ? 'mismatch' : 'unknown';
}

/** Key types of the plain entries for host:port, in file order, without duplicates. */
export function knownHostKeyTypes(entries: KnownHostEntry[], host: string, port: number): string[] {
  const types = entriesForHost(entries, host, port)
    .filter((e) => e.marker === undefined)
    .map((e) => e.keyType);
  return [...new Set(types)];
}

function entriesForHost(entries: KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  const name = knownHostsName(host, port);
  const lowered = name.toLowerCase();
  return entries.filter((e) =>
    e.hashed ? hashedHostMatches(e.hashed, lowered) || hashedHostMatches(e.hashed, name) : patternListMatches(e.patterns, lowered),
  );
}

function hashedHostMatches(hashed: { salt: Buffer; hash: Buffer }, name: string): boolean {
  const digest = createHmac('sha1', hashed.salt).update(name).digest();
  return timingSafeEqual(digest, hashed.hash);
}

/** OpenSSH match_hostname: any matching negated pattern excludes the host outright. */
function patternListMatches(patterns: string[], name: string): boolean {
  let positive = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (!wildcardMatches(pattern, name)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

/** Glob with `*` (any run, possibly empty) and `?` (exactly one character); everything else literal. */
export function wildcardMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    if (pattern[p] === '*') {
      starP = p++;
      starT = t;
    } else if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      p++;
      t++;
    } else if (starP !== -1) {
      // Backtrack: let the last `*` swallow one more character.
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
