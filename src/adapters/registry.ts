import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { RegistryAuth } from '../core/registry.js';
import { parseChallenge, pushScope, tokenUrl } from '../core/registry-api.js';
import { StageError } from '../errors.js';

export interface RegistryResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A manifest as the registry stores it: its bytes (its digest is theirs) and its media type. */
export interface Manifest {
  body: Buffer;
  contentType: string;
}

/** One HTTP request to a registry; the body is a buffer or a stream; the answer is read whole. */
export function registryRequest(
  url: string,
  options: { method: string; headers?: Record<string, string>; body?: Buffer | Readable },
): Promise<RegistryResponse> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(target, { method: options.method, headers: options.headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    request.on('error', reject);
    if (options.body === undefined || Buffer.isBuffer(options.body)) request.end(options.body);
    else options.body.pipe(request);
  });
}

/**
 * The registry's HTTP API for one repository, authenticated as the Engine would be: no credentials, HTTP Basic, or
 * a bearer token for pushing to the repository, asked of the token service the registry names.
 */
export class RegistryClient {
  private authorization: Promise<string | undefined> | undefined;

  constructor(
    readonly base: string,
    readonly path: string,
    private readonly auth: RegistryAuth | undefined,
  ) {}

  /** The `Authorization` header every request to the repository gets; asked once. */
  authorize(): Promise<string | undefined> {
    this.authorization ??= this.discover();
    return this.authorization;
  }

  private async discover(): Promise<string | undefined> {
    const ping = await registryRequest(`${this.base}/v2/`, { method: 'GET' });
    if (ping.status !== 401) return undefined;
    const challenge = parseChallenge(String(ping.headers['www-authenticate'] ?? ''));
    if (!this.auth) throw new StageError(`${this.base} asks for credentials and registry.password is not set`);
    const basic = `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}`;
    if (challenge?.scheme !== 'bearer') return basic;
    const url = tokenUrl(challenge, pushScope(this.path));
    if (!url) throw new StageError(`${this.base} asks for a token but names no token service`);
    const answer = await registryRequest(url, { method: 'GET', headers: { authorization: basic } });
    if (answer.status !== 200)
      throw new StageError(`the registry's token service answered ${answer.status}: check registry.username and registry.password`);
    const { token, access_token: accessToken } = JSON.parse(answer.body.toString('utf8')) as { token?: string; access_token?: string };
    return `Bearer ${token ?? accessToken}`;
  }

  async request(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer): Promise<RegistryResponse> {
    const authorization = await this.authorize();
    return registryRequest(`${this.base}${path}`, { method, headers: { ...headers, ...(authorization ? { authorization } : {}) }, body });
  }

  /** Puts a manifest under a tag or its digest; resolves with the digest the registry answered. */
  async putManifest(reference: string, manifest: Manifest): Promise<string> {
    const answer = await this.request(
      'PUT',
      `/v2/${this.path}/manifests/${encodeURIComponent(reference)}`,
      { 'content-type': manifest.contentType },
      manifest.body,
    );
    if (answer.status !== 201)
      throw new StageError(`the registry refused the manifest for ${this.path}:${reference} (${answer.status} ${registryMessage(answer)})`);
    return String(answer.headers['docker-content-digest'] ?? '');
  }
}

/** The first error message of a registry's error body, else its status text. */
export function registryMessage(answer: RegistryResponse): string {
  try {
    const { errors } = JSON.parse(answer.body.toString('utf8')) as { errors?: { message?: string }[] };
    if (errors?.[0]?.message) return errors[0].message;
  } catch {
    // not JSON
  }
  return http.STATUS_CODES[answer.status] ?? 'error';
}
