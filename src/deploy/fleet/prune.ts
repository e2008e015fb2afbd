import type Docker from 'dockerode';
import { keptAmong } from '../../adapters/service.js';
import type { Log } from '../target.js';

/**
 * After a deploy, from one look at the host: each service's kept containers beyond its newest `keep` are removed, then,
 * given a `repository` (a deploy host; the runner's own engine keeps its images, as its build cache), the images of
 * it that no container uses any more. An image another container started meanwhile uses stays.
 */
export async function pruneHost(
  docker: Docker,
  project: string,
  services: readonly { service: string; keep: number }[],
  repository: string | undefined,
  log: Log,
): Promise<void> {
  const [containers, images] = await Promise.all([
    docker.listContainers({ all: true }),
    repository ? docker.listImages({ filters: { reference: [repository] } }) : [],
  ]);
  const old = services.flatMap(({ service, keep }) =>
    keptAmong(containers, project, service, `${project}-${service}`)
      .slice(keep)
      .map((info) => ({ service, info })),
  );
  await Promise.all(
    old.map(async ({ service, info }) => {
      await removeContainer(docker, info.Id);
      log(`${service}: removed old release ${info.Names[0]?.slice(1)}`);
    }),
  );
  const gone = new Set(old.map(({ info }) => info.Id));
  const used = new Set(containers.filter((c) => !gone.has(c.Id)).map((c) => c.ImageID));
  await Promise.all(
    images
      .filter((image) => !used.has(image.Id))
      .map((image) =>
        docker
          .getImage(image.Id)
          .remove({ force: false, noprune: false })
          .then(
            () => log(`removed unused image ${(image.RepoTags ?? [])[0] ?? image.Id.slice(7, 19)}`),
            () => undefined,
          ),
      ),
  );
}

/** Removes a container whatever its state; one that is gone already is no failure. */
export function removeContainer(docker: Docker, id: string): Promise<void> {
  return docker
    .getContainer(id)
    .remove({ force: true })
    .then(
      () => undefined,
      () => undefined,
    );
}
