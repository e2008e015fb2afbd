import type Docker from 'dockerode';
import { keptContainers } from '../../adapters/service.js';
import type { Log } from '../target.js';

/** Removes kept releases of each service beyond its newest `keep`. */
export async function removeOldReleases(docker: Docker, project: string, services: readonly { service: string; keep: number }[], log: Log): Promise<void> {
  await Promise.all(services.map(async ({ service, keep }) => {
    const kept = await keptContainers(docker, project, service, `${project}-${service}`);
    await Promise.all(kept.slice(keep).map(async (old) => {
      await docker.getContainer(old.Id).remove({ force: true }).catch(() => undefined);
      log(`${service}: removed old release ${old.Names[0]?.slice(1)}`);
    }));
  }));
}

/** Removes the images of `repository` that no container uses any more. */
export async function pruneImages(docker: Docker, repository: string, log: Log): Promise<void> {
  const [containers, images] = await Promise.all([docker.listContainers({ all: true }), docker.listImages({ filters: { reference: [repository] } })]);
  const used = new Set(containers.map((c) => c.ImageID));
  // A conflict (an image another container started meanwhile uses) just leaves it.
  await Promise.all(images.filter((i) => !used.has(i.Id)).map((image) => docker.getImage(image.Id).remove({ force: false, noprune: false }).then(
    () => log(`removed unused image ${(image.RepoTags ?? [])[0] ?? image.Id.slice(7, 19)}`),
    () => undefined,
  )));
}
