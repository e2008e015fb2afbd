/**
 * One-off containers of a swarm service, run on the manager's engine through the deploy's connection: a deploy's release
 * command, and `pipeline exec --new`. They run as the service's tasks do (its env, secrets, volumes and other options,
 * its release pinned by digest), outside Swarm, and are removed afterwards whatever happens.
 */
import type Docker from 'dockerode';
import type { RunIo } from '../../adapters/container-run.js';
import { hasImage } from '../../adapters/docker.js';
import { LABEL_PREFIX } from '../../core/plan.js';
import { credentialsFor, type RegistryAccess } from '../../core/registry.js';
import type { ServiceImage, SwarmServicePlan } from '../../core/swarm-spec.js';
import { HostError } from '../../errors.js';
import { runReleaseCommand, runServiceOneOff } from '../one-off.js';
import { pullOn } from '../pull.js';
import type { DeployJob, Log, ReleaseCommand } from '../target.js';

export interface ManagerEngine {
  /** The manager's id, for errors. */
  id: string;
  docker: Docker;
  registry: RegistryAccess | undefined;
  log: Log;
}

/** Swarm pulls on the nodes that run tasks, not necessarily on the manager: it pulls the image here when it lacks it. */
async function pullOnManager(manager: ManagerEngine, image: string): Promise<void> {
  if (await hasImage(manager.docker, image)) return;
  await pullOn(manager.docker, image, credentialsFor(manager.registry, image), manager.log, `pulling ${image} on the manager`).catch(
    (error: Error) => {
      throw new HostError(manager.id, error.message, { cause: error });
    },
  );
}

/** A deploy's release command in a one-off container of the new release on the manager; a failure throws with its last lines. */
export async function runManagerRelease(
  manager: ManagerEngine,
  svc: SwarmServicePlan,
  image: ServiceImage,
  command: ReleaseCommand,
  job: DeployJob,
): Promise<void> {
  await pullOnManager(manager, image.image);
  const labels = {
    [`${LABEL_PREFIX}tag`]: image.tag,
    ...(image.commit ? { [`${LABEL_PREFIX}commit`]: image.commit } : {}),
    [`${LABEL_PREFIX}deployed-by`]: job.deployedBy,
  };
  await runReleaseCommand(
    { docker: manager.docker, svc, image: image.image, secretEnv: job.secretEnv(svc.secrets), labels },
    command,
    manager.log,
    job.signal,
  ).catch((error: Error) => {
    throw new HostError(manager.id, error.message, { cause: error });
  });
}

/** `pipeline exec --new`: the command in a one-off container of the release the service runs now; resolves with its exit code. */
export async function execOnManager(
  manager: ManagerEngine,
  svc: SwarmServicePlan,
  image: ServiceImage,
  run: { command: string[]; secretEnv: Record<string, string> },
  io: RunIo,
): Promise<number> {
  await pullOnManager(manager, image.image);
  return runServiceOneOff(
    {
      docker: manager.docker,
      svc,
      image: image.image,
      command: run.command,
      purpose: 'exec',
      secretEnv: run.secretEnv,
      labels: { [`${LABEL_PREFIX}tag`]: image.tag },
    },
    io,
  );
}
