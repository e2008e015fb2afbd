import type Docker from 'dockerode';
import { keptContainers } from '../../adapters/service.js';
import type { Log } from '../target.js';

/** Removes each service's kept containers beyond its newest `keep`. */
export async function pruneKept(
  docker: Docker,
  project: string,
  services: readonly { service: string; keep: number }[],
  log: Log,
): Promise<void> {
  await Promise.all(
    services.map(async ({ service, keep }) => {
      const kept = await keptContainers(docker, project, service, `${project}-${service}`);
      await Promise.all(
        kept.slice(keep).map(async (old) => {
          await removeContainer(docker, old.Id);
          log(`${service}: removed old release ${old.Names[0]?.slice(1)}`);
        }),
      );
    }),
  );
}

/** Removes the images of a repository that no container uses any more; one another container started meanwhile stays. */
export async function pruneImages(docker: Docker, repository: string, log: Log): Promise<void> {
  const [containers, images] = await Promise.all([
    docker.listContainers({ all: true }),
    docker.listImages({ filters: { reference: [repository] } }),
  ]);
  const used = new Set(containers.map((c) => c.ImageID));
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
