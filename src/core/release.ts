import { parseImageRef, repositoryOf } from './image-ref.js';

/**
 * The artifact a deploy puts on hosts: the pipeline's image at a tag, pinned to one
 * digest once it is known (from the push, else from the registry as the first host sees it).
 * On the runner's own engine a release may have no digest: the local image is the release.
 */
export interface Release {
  /** The pipeline's image without a tag, e.g. `registry.example.com/allume/shopping-tool`. */
  repository: string;
  tag: string;
  digest?: string;
  /** The commit it was built from, when this run knows it. */
  commit?: string;
}

export function newRelease(image: string, tag: string, extra: Pick<Release, 'digest' | 'commit'> = {}): Release {
  return { repository: repositoryOf(parseImageRef(image)), tag, ...withoutUndefined(extra) };
}

/** `repository:tag`: what `docker ps` shows. */
export function releaseRef(release: Release): string {
  return `${release.repository}:${release.tag}`;
}

/** `repository@sha256:…` once the digest is known, else `repository:tag`. */
export function pinnedRef(release: Release): string {
  return release.digest === undefined ? releaseRef(release) : `${release.repository}@${release.digest}`;
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
