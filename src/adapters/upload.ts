/**
 * Uploading an image to the registry by digest, untagged, with the Engine's own push: the Engine API pushes only by
 * tag, so the engine pushes to a proxy on the runner's loopback that passes its requests on to the registry with the
 * registry credentials, and puts the manifest under its digest instead of the tag. Blobs, their compression and the
 * checks for layers the registry already has are the engine's, exactly as in a push by tag; the tags come later, once
 * the tests have passed (`RegistryClient.putManifest`).
 */

import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type Docker from 'dockerode';
import { localLocation, manifestDigest, proxyPort, proxyRoute } from '../core/registry-api.js';
import { StageError } from '../errors.js';
import { engineMessage, pushImage } from './docker.js';
import type { Manifest, RegistryClient } from './registry.js';

export interface Uploaded {
  digest: string;
  manifest: Manifest;
}

/** Pushes the image `imageId` to `client`'s repository by digest; nothing is tagged in the registry. */
export async function uploadByDigest(
  docker: Docker,
  imageId: string,
  client: RegistryClient,
  onLine: (line: string) => void,
  signal?: AbortSignal,
): Promise<Uploaded> {
  const authorization = await client.authorize();
  const proxy = await startProxy(client, authorization);
  const local = `127.0.0.1:${proxy.port}/${client.path}`;
  const tag = 'pipeline-upload';
  try {
    await docker.getImage(imageId).tag({ repo: local, tag });
    await pushImage(
      docker,
      local,
      tag,
      { username: 'pipeline', password: proxy.secret, serveraddress: `127.0.0.1:${proxy.port}` },
      onLine,
      signal,
    ).catch((error: Error) => {
      const reason = error.message.replace(/^push of \S+ failed: /, '');
      // No request at all: the engine is not on this machine's loopback (a remote engine, a runner in a container).
      if (proxy.requests() === 0) throw new StageError(`the engine cannot reach the runner at 127.0.0.1 (${reason})`);
      throw new StageError(proxy.failure() ?? reason);
    });
    const manifest = proxy.manifest();
    if (!manifest) throw new StageError('the engine pushed no manifest');
    return manifest;
  } finally {
    await proxy.close();
    // The loopback names are the runner's own: the image keeps its tags; the proxy's name and digest go.
    for (const ref of [`${local}:${tag}`, ...(proxy.manifest() ? [`${local}@${proxy.manifest()!.digest}`] : [])]) {
      await docker
        .getImage(ref)
        .remove({ noprune: true })
        .catch((error: unknown) => {
          if ((error as { statusCode?: number }).statusCode !== 404)
            onLine(`could not remove ${ref} from the runner's engine: ${engineMessage(error)}`);
        });
    }
  }
}

interface Proxy {
  port: number;
  /** The password the engine must send (one per upload, so no other local program can push through the proxy). */
  secret: string;
  requests(): number;
  manifest(): Uploaded | undefined;
  failure(): string | undefined;
  close(): Promise<void>;
}

async function startProxy(client: RegistryClient, authorization: string | undefined): Promise<Proxy> {
  const secret = randomBytes(18).toString('base64url');
  const expected = `Basic ${Buffer.from(`pipeline:${secret}`).toString('base64')}`;
  let count = 0;
  let uploaded: Uploaded | undefined;
  let failure: string | undefined;
  const server = http.createServer((req, res) => {
    count += 1;
    const route = proxyRoute(req.method ?? 'GET', req.url ?? '/', client.path);
    if (req.headers.authorization !== expected) return answer(res, 401, { 'www-authenticate': 'Basic realm="pipeline"' });
    if (route.kind === 'ping') return answer(res, 200, {});
    if (route.kind === 'refuse') return answer(res, 403, {}, route.reason);
    if (route.kind === 'forward')
      return forward(req, res, `${client.base}${req.url}`, authorization, (why) => {
        failure ??= why;
      });
    readAll(req)
      .then(async (body) => {
        const manifest = {
          body,
          contentType: String(req.headers['content-type'] ?? 'application/vnd.docker.distribution.manifest.v2+json'),
        };
        const digest = manifestDigest(body);
        const stored = await client.putManifest(digest, manifest);
        uploaded = { digest: stored || digest, manifest };
        answer(res, 201, { 'docker-content-digest': uploaded.digest, location: `/v2/${client.path}/manifests/${uploaded.digest}` });
      })
      .catch((error: Error) => {
        failure ??= error.message;
        answer(res, 502, {}, error.message);
      });
  });
  const port = await listen(server, proxyPort(client.base));
  return {
    port,
    secret,
    requests: () => count,
    manifest: () => uploaded,
    failure: () => failure,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Listens on the loopback at `preferred`, or any free port when that one is taken. */
function listen(server: http.Server, preferred: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EADDRINUSE') return reject(error);
      server.listen(0, '127.0.0.1');
    };
    server.on('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
    server.listen(preferred, '127.0.0.1');
  });
}

/** Passes one request on to the registry, streaming both ways; the registry's upload locations are made the proxy's. */
function forward(
  req: IncomingMessage,
  res: ServerResponse,
  url: string,
  authorization: string | undefined,
  fail: (why: string) => void,
): void {
  const headers = { ...req.headers };
  for (const name of ['host', 'authorization', 'connection']) delete headers[name];
  if (authorization) headers.authorization = authorization;
  const target = new URL(url);
  const upstream = `${target.protocol}//${target.host}`;
  const request = (target.protocol === 'https:' ? https : http).request(target, { method: req.method, headers }, (response) => {
    const answerHeaders = { ...response.headers };
    delete answerHeaders.connection;
    delete answerHeaders['transfer-encoding'];
    if (typeof answerHeaders.location === 'string') answerHeaders.location = localLocation(answerHeaders.location, upstream);
    if ((response.statusCode ?? 500) >= 400 && response.statusCode !== 404)
      fail(`the registry answered ${response.statusCode} to ${req.method} ${target.pathname}`);
    res.writeHead(response.statusCode ?? 502, answerHeaders);
    response.pipe(res);
  });
  request.on('error', (error) => {
    fail(`the registry did not answer: ${error.message}`);
    if (!res.headersSent) answer(res, 502, {}, error.message);
    else res.destroy();
  });
  req.pipe(request);
}

function answer(res: ServerResponse, status: number, headers: Record<string, string>, message?: string): void {
  const body = message === undefined ? '{}' : JSON.stringify({ errors: [{ code: 'PROXY', message }] });
  res.writeHead(status, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0', ...headers });
  res.end(body);
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
