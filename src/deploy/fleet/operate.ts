/** A service's container on one host, looked at and worked in after a deploy: `pipeline logs` and `pipeline exec`. */
import type Docker from 'dockerode';
import { execIn } from '../../adapters/container-run.js';
import { findContainer } from '../../adapters/service.js';
import type { LogLine } from '../../core/logs.js';
import { LABEL_PREFIX, type ServicePlan } from '../../core/plan.js';
import { StageError } from '../../errors.js';
import { readEngineLogs } from '../engine-logs.js';
import { runServiceOneOff } from '../one-off.js';
import type { ExecRequest, LogsRequest } from '../target.js';

/** The service's container log, each line with the Engine's timestamp; with `follow`, until the container stops or the signal. */
export async function serviceLogs(docker: Docker, svc: ServicePlan, request: LogsRequest, onLine: (line: LogLine) => void): Promise<void> {
  const info = await findContainer(docker, svc.container);
  if (!info) throw new StageError(`${svc.service} is not deployed here`);
  const container = docker.getContainer(info.Id);
  await readEngineLogs(
    docker,
    (options) => (options.follow ? container.logs({ ...options, follow: true }) : container.logs({ ...options, follow: false })),
    request,
    onLine,
  );
}

/**
 * Runs a command in the service's running container, or (`oneOff`) in a one-off container of the release it runs,
 * as the service runs; resolves with the command's exit code.
 */
export async function serviceExec(docker: Docker, svc: ServicePlan, request: ExecRequest): Promise<number> {
  const info = await findContainer(docker, svc.container);
  if (!info) throw new StageError(`${svc.service} is not deployed here`);
  const io = { onLines: request.onLines, signal: request.signal, ...(request.terminal ? { terminal: request.terminal } : {}) };
  if (!request.oneOff) {
    if (!info.State.Running) throw new StageError(`${svc.service} is not running here (${info.State.Status})`);
    return execIn(docker, docker.getContainer(info.Id), request.command, io);
  }
  const tag = info.Config.Labels?.[`${LABEL_PREFIX}tag`];
  return runServiceOneOff(
    {
      docker,
      svc,
      image: info.Image,
      command: request.command,
      purpose: 'exec',
      secretEnv: request.secretEnv(svc.secrets),
      labels: tag ? { [`${LABEL_PREFIX}tag`]: tag } : {},
    },
    io,
  );
}
