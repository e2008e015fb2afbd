import type Docker from 'dockerode';
import { templateFingerprint } from '../../core/swarm-changes.js';
import { describeTask, type RolloutView, rolloutVerdict, type TaskView, taskLines } from '../../core/swarm-rollout.js';
import { monitorMs, nodesOf, type SwarmNode, type SwarmServicePlan } from '../../core/swarm-spec.js';
import { HostError, StageError } from '../../errors.js';
import type { Log } from '../target.js';
import { type EngineService, inspectService, readTasks } from './engine.js';

const POLL_MS = 1_000;

export interface FollowOptions {
  docker: Docker;
  member: string;
  /** The pipeline service (for lines and errors). */
  service: string;
  serviceId: string;
  kind: RolloutView['kind'];
  /** The start of the UpdateStatus the service had before the request. */
  previousStartedAt?: string;
  /** Tasks that should run for a global service (the nodes of its roles). */
  globalTasks: number;
  /** Task lines printed so far (those before the request, so that only changes print). */
  seen: Map<string, string>;
  names: ReadonlyMap<string, string>;
  log: Log;
  /** A deploy's switch stops at a signal; an undo never does. */
  signal?: AbortSignal;
  deadlineMs: number;
  sleep: (ms: number) => Promise<void>;
}

export type RolloutKind = RolloutView['kind'];

/** How long a rollout may take beyond its tasks' own time: the nodes may first have to pull the image. */
const ROLLOUT_BASE_MS = 15 * 60_000;

/** What following a service needs of the swarm's deploy. */
export interface SwarmView {
  docker: Docker;
  member: string;
  nodes: readonly SwarmNode[];
  names: ReadonlyMap<string, string>;
  log: Log;
  sleep: (ms: number) => Promise<void>;
}

/** Follows one service's rollout, within a deadline from its tasks: each may take two monitors and its stop grace period. */
export function followService(
  view: SwarmView,
  svc: SwarmServicePlan,
  serviceId: string,
  request: Pick<FollowOptions, 'kind' | 'seen' | 'previousStartedAt'>,
  signal?: AbortSignal,
): Promise<FollowOutcome> {
  const globalTasks = nodesOf(svc.roles, view.nodes).length;
  const eachTask = 2 * monitorMs(svc) + svc.stopGraceMs;
  return followRollout({
    ...view,
    ...request,
    service: svc.service,
    serviceId,
    globalTasks,
    ...(signal ? { signal } : {}),
    deadlineMs: ROLLOUT_BASE_MS + (svc.redeploy ? svc.replicas : globalTasks) * eachTask,
  });
}

export type FollowOutcome = { ok: true; templateChanged: boolean } | { ok: false; rolledBack: boolean; reason: string };

/**
 * Follows a service while Swarm rolls it out, printing a line per task as it changes, until it has converged on its
 * spec or Swarm gave up on it (rolled back, paused); a rollout that takes longer than `deadlineMs` fails.
 */
export async function followRollout(options: FollowOptions): Promise<FollowOutcome> {
  const { docker, member, service, log, names } = options;
  const until = Date.now() + options.deadlineMs;
  for (;;) {
    const current: EngineService = await inspectService(docker, member, options.serviceId);
    const tasks = await readTasks(docker, member, current);
    for (const line of taskLines(service, tasks, options.seen, names)) log(line);
    const templateChanged =
      options.kind === 'create' ||
      templateFingerprint(current.Spec.TaskTemplate) !== templateFingerprint(current.PreviousSpec?.TaskTemplate);
    const update = current.UpdateStatus?.State
      ? {
          state: current.UpdateStatus.State,
          ...(current.UpdateStatus.StartedAt ? { startedAt: current.UpdateStatus.StartedAt } : {}),
          ...(current.UpdateStatus.Message ? { message: current.UpdateStatus.Message } : {}),
        }
      : undefined;
    const verdict = rolloutVerdict(
      {
        kind: options.kind,
        templateChanged,
        ...(update ? { update } : {}),
        ...(options.previousStartedAt ? { previousStartedAt: options.previousStartedAt } : {}),
        desired: current.Spec.Mode?.Replicated?.Replicas ?? options.globalTasks,
        tasks,
      },
      (task) => describeTask(service, task, names),
    );
    if (verdict.done) return verdict.ok ? { ok: true, templateChanged } : verdict;
    if (options.signal?.aborted) throw new StageError('stopped by a signal');
    if (Date.now() > until) {
      const states = tasks
        .filter((task) => task.desired === 'running')
        .map((task) => describeTask(service, task, names))
        .join('; ');
      throw new HostError(
        member,
        `${service}: not converged after ${Math.round(options.deadlineMs / 1000)} s${states ? `: ${states}` : ''}`,
      );
    }
    await options.sleep(POLL_MS);
  }
}

/** The task lines as they are before a request: what the rollout prints afterwards are the changes. */
export async function taskSnapshot(
  docker: Docker,
  member: string,
  service: EngineService,
  names: ReadonlyMap<string, string>,
  name: string,
): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  taskLines(name, await readTasks(docker, member, service), seen, names);
  return seen;
}

/** Every task that should run runs `image` (the pinned release), and as many as should. */
export async function verifyTasks(
  docker: Docker,
  member: string,
  service: EngineService,
  image: string,
  desired: number,
  name: string,
): Promise<TaskView[]> {
  const running = (await readTasks(docker, member, service)).filter((task) => task.desired === 'running' && task.state === 'running');
  const wrong = running.find((task) => task.image !== image);
  if (wrong) throw new HostError(member, `${name}: task ${wrong.id.slice(0, 12)} runs ${wrong.image}, not the release ${image}`);
  if (running.length < desired) throw new HostError(member, `${name}: ${running.length} of ${desired} task(s) running`);
  return running;
}
