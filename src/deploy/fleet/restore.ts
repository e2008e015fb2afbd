import type Docker from 'dockerode';
import { keptContainers, startContainer } from '../../adapters/service.js';
import type { ServiceResult } from '../../core/changes.js';
import { LABEL_PREFIX, type ServicePlan } from '../../core/plan.js';
import { HostError } from '../../errors.js';
import type { Log } from '../target.js';
import type { CurrentContainer } from './observe.js';

/** What bringing a kept release back, and checking what runs, need of its host's deploy. */
export interface RestoreHost {
  id: string;
  docker: Docker;
  project: string;
  log: Log;
  api<T>(promise: Promise<T>, what: string): Promise<T>;
  healthy(container: Docker.Container, svc: ServicePlan): Promise<void>;
}

/** The kept release a rollback brings back: the newest, or the one deployed with the tag `to`. */
export async function keptRelease(host: RestoreHost, svc: ServicePlan, to: string | undefined): Promise<Docker.ContainerInfo> {
  const kept = await host.api(
    keptContainers(host.docker, host.project, svc.service, svc.container),
    `listing kept releases of ${svc.service}`,
  );
  const target = to === undefined ? kept[0] : kept.find((c) => c.Labels[`${LABEL_PREFIX}tag`] === to);
  if (!target)
    throw new HostError(host.id, `${svc.service}: no kept release${to === undefined ? '' : ` deployed with tag ${to}`} to roll back to`);
  return target;
}

/** Starts a kept release that is back at its service's name, and waits until it is healthy. */
export async function restart(host: RestoreHost, svc: ServicePlan, target: Docker.ContainerInfo): Promise<ServiceResult> {
  const container = host.docker.getContainer(target.Id);
  await host.api(container.start(), `starting ${svc.container}`);
  host.log(`${svc.service}: restarted ${target.Image} (tag ${target.Labels[`${LABEL_PREFIX}tag`] ?? 'unknown'}), waiting until healthy`);
  await host.healthy(container, svc);
  return rolledBack(svc, target.Image, target.Labels);
}

/**
 * A rollback after a deploy that died on this host before it was verified: its containers are gone, and the release
 * it was replacing, back at its name, runs again.
 */
export async function resume(host: RestoreHost, svc: ServicePlan, { info }: CurrentContainer): Promise<ServiceResult> {
  const container = host.docker.getContainer(info.Id);
  await host.api(startContainer(container), `starting ${svc.container}`);
  const labels = 'Config' in info ? (info.Config.Labels ?? {}) : info.Labels;
  host.log(
    `${svc.service}: back on the release an interrupted deploy was replacing (tag ${labels[`${LABEL_PREFIX}tag`] ?? 'unknown'}), waiting until healthy`,
  );
  await host.healthy(container, svc);
  return rolledBack(svc, 'Config' in info ? info.Config.Image : info.Image, labels);
}

function rolledBack(svc: ServicePlan, image: string, labels: Record<string, string>): ServiceResult {
  return { service: svc.service, container: svc.container, image, action: 'rolled back', digest: labels[`${LABEL_PREFIX}digest`] };
}

/** Checks that each service's container runs the release (its image id is the one the release reference names) and still runs. */
export async function verifyRelease(
  host: RestoreHost,
  services: readonly Pick<ServicePlan, 'service' | 'container'>[],
  releaseRef: string,
): Promise<void> {
  if (services.length === 0) return; // nothing switched runs the release: its image need not be on the host
  const [image, ...containers] = await Promise.all([
    host.api(host.docker.getImage(releaseRef).inspect(), 'inspecting the release image'),
    ...services.map((svc) => host.api(host.docker.getContainer(svc.container).inspect(), `inspecting ${svc.container}`)),
  ]);
  services.forEach((svc, i) => {
    const info = containers[i]!;
    if (info.Image !== image.Id)
      throw new HostError(host.id, `${svc.service} runs image ${info.Image.slice(7, 19)}, not the release ${image.Id.slice(7, 19)}`);
    if (!info.State.Running) throw new HostError(host.id, `${svc.service} is no longer running`);
  });
}
