import type Docker from 'dockerode';
import { type RunIo, runOneOff } from '../adapters/container-run.js';
import { engineMessage } from '../adapters/docker.js';
import { ensureVolumes, oneOffSpec } from '../adapters/service.js';
import { LABEL_PREFIX, type ServicePlan } from '../core/plan.js';
import { PipelineError, StageError } from '../errors.js';
import type { Log, ReleaseCommand } from './target.js';

/** What a one-off container is for: a deploy's release command, or `pipeline exec --new`. */
export type OneOffPurpose = 'release' | 'exec';

const ONE_OFF_LABEL = `${LABEL_PREFIX}one-off`;
/** Lines of a failed command's output its error message ends with. */
const LAST_LINES = 5;

/**
 * Labels of a one-off container of a service: whose it is and what for. Never the service's own label, so that it
 * is never taken for a release of the service (kept for rollback, or the one that runs).
 */
function oneOffLabels(svc: ServicePlan, purpose: OneOffPurpose, extra: Record<string, string>): Record<string, string> {
  const { [`${LABEL_PREFIX}service`]: _service, ...labels } = { ...svc.labels, ...extra };
  return { ...labels, [ONE_OFF_LABEL]: `${svc.service} ${purpose}` };
}

export interface OneOffRun {
  docker: Docker;
  svc: ServicePlan;
  image: string;
  command: string[];
  purpose: OneOffPurpose;
  secretEnv: Record<string, string>;
  labels?: Record<string, string>;
}

/** Runs a one-off container of a service as the service would run, its named volumes created first; resolves with its exit code. */
export async function runServiceOneOff(run: OneOffRun, io: RunIo): Promise<number> {
  const { docker, svc } = run;
  await removeLeftovers(docker, svc, run.purpose);
  await ensureVolumes(docker, svc);
  return runOneOff(docker, oneOffSpec(svc, run.image, run.secretEnv, oneOffLabels(svc, run.purpose, run.labels ?? {}), run.command), io);
}

/**
 * One-off containers of the project that a killed run could not remove (it removes them itself otherwise). A running
 * one is someone's `exec --new`, except a release command's of the same environment: its deploys hold one lock, so that one's deploy is dead.
 */
async function removeLeftovers(docker: Docker, svc: ServicePlan, purpose: OneOffPurpose): Promise<void> {
  const project = svc.labels[`${LABEL_PREFIX}project`]!;
  const all = await docker.listContainers({ all: true, filters: { label: [`${LABEL_PREFIX}project=${project}`, ONE_OFF_LABEL] } });
  const environment = svc.labels[`${LABEL_PREFIX}environment`];
  const deadRelease = (info: Docker.ContainerInfo) =>
    purpose === 'release' && info.Labels[ONE_OFF_LABEL]?.endsWith(' release') && info.Labels[`${LABEL_PREFIX}environment`] === environment;
  const left = all.filter((info) => info.State !== 'running' || deadRelease(info));
  await Promise.all(
    left.map((info) =>
      docker
        .getContainer(info.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}

/** A deploy's release command: its output streamed to the log; a non-zero exit, the timeout or a signal throws with its last lines. */
export async function runReleaseCommand(
  run: Omit<OneOffRun, 'command' | 'purpose'>,
  release: ReleaseCommand,
  log: Log,
  signal: AbortSignal,
): Promise<void> {
  const what = `release command ${release.command.join(' ')}`;
  const last: string[] = [];
  log(`${release.service}: running ${release.command.join(' ')} in a new container of ${run.image}`);
  const onLines = (lines: string) => {
    for (const line of lines.split('\n')) {
      log(line);
      last.push(line);
      if (last.length > LAST_LINES) last.shift();
    }
  };
  const ending = () => (last.length > 0 ? `: ${last.join(' | ')}` : '');
  let code: number;
  try {
    code = await runServiceOneOff(
      { ...run, command: release.command, purpose: 'release' },
      { onLines, signal, timeoutMs: release.timeoutMs, what },
    );
  } catch (error) {
    throw new StageError(`${error instanceof PipelineError ? error.message : `${what}: ${engineMessage(error)}`}${ending()}`, {
      cause: error,
    });
  }
  if (code !== 0) throw new StageError(`${what} exited with code ${code}${ending()}`);
  log(`${release.service}: ${release.command.join(' ')} exited with code 0`);
}
