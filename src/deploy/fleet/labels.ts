import type Docker from 'dockerode';
import { DEPLOY_LABEL } from '../../core/leftovers.js';
import { LABEL_PREFIX, releaseLabels, runsRelease, type ServicePlan } from '../../core/plan.js';
import { type Release, releaseRef } from '../../core/release.js';
import type { DeployJob } from '../target.js';

/**
 * The labels of a service's new container, which let `pipeline status` say what runs and who put it there, and the
 * next deploy recognise what this one started; the commit comes from the image itself.
 */
export async function containerLabels(
  docker: Docker,
  svc: ServicePlan,
  release: Release,
  job: Pick<DeployJob, 'deployedBy' | 'id'>,
  api: <T>(promise: Promise<T>, what: string) => Promise<T>,
): Promise<Record<string, string>> {
  const labels: Record<string, string> = {
    ...releaseLabels(svc, release),
    [`${LABEL_PREFIX}deployed-by`]: job.deployedBy,
    [`${LABEL_PREFIX}deployed-at`]: new Date().toISOString(),
    [DEPLOY_LABEL]: job.id,
  };
  if (!runsRelease(svc)) return labels;
  const ref = releaseRef(release);
  const image = await api(docker.getImage(ref).inspect(), `inspecting ${ref}`);
  const commit = image.Config.Labels?.['org.opencontainers.image.revision'];
  if (commit) labels[`${LABEL_PREFIX}commit`] = commit;
  if (release.digest) labels[`${LABEL_PREFIX}digest`] = release.digest;
  return labels;
}
