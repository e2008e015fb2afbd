/**
 * Docker image references, parsed as the docker CLI reads them:
 * `[registry[:port]/]path[:tag][@digest]`. The first component names a registry
 * only when there is more than one and it has a `.` or a `:`, or is `localhost`.
 */
export interface ImageRef {
  /** `registry.example.com`, `10.213.0.1:5000`; undefined for Docker Hub names. */
  registry?: string;
  /** The path inside the registry, e.g. `allume/shopping-tool`. */
  path: string;
  tag?: string;
  digest?: string;
}

export function parseImageRef(ref: string): ImageRef {
  const at = ref.indexOf('@');
  const digest = at === -1 ? undefined : ref.slice(at + 1);
  const named = at === -1 ? ref : ref.slice(0, at);
  const slash = named.lastIndexOf('/');
  const colon = named.lastIndexOf(':');
  const tag = colon > slash ? named.slice(colon + 1) : undefined;
  const name = tag === undefined ? named : named.slice(0, colon);
  const first = name.split('/')[0]!;
  const hasRegistry = name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return {
    ...(hasRegistry ? { registry: first } : {}),
    path: hasRegistry ? name.slice(first.length + 1) : name,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** The repository of a reference: registry and path, without tag or digest. */
export function repositoryOf(ref: ImageRef): string {
  return ref.registry === undefined ? ref.path : `${ref.registry}/${ref.path}`;
}

export function formatImageRef(ref: ImageRef): string {
  return `${repositoryOf(ref)}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/** The tag a reference names, `latest` when it names none (as Docker reads it). */
export function tagOf(ref: string): string {
  return parseImageRef(ref).tag ?? 'latest';
}
