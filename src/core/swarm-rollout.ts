/**
 * Following a service as Swarm rolls it out: from the service's UpdateStatus and its tasks, whether the rollout is
 * still going, has converged on the new spec, or failed (rolled back by Swarm), and a line per task as it changes.
 */
/** A task of the service as the manager reports it. */
export interface TaskView {
  id: string;
  /** Replicated services number their tasks; a global one has a task per node. */
  slot?: number;
  nodeId?: string;
  /** Swarm's task states: new … preparing, starting, running, complete, shutdown, failed, rejected … */
  state: string;
  desired: string;
  err?: string;
  /** When it last changed. */
  at?: string;
  /** It runs the spec being rolled out. */
  current: boolean;
  /** The image it runs, and its tag. */
  image?: string;
  tag?: string;
  /** Its container on its node, once it has one. */
  containerId?: string;
}

export interface UpdateView {
  state: string;
  startedAt?: string;
  message?: string;
}

export interface RolloutView {
  /** What was asked of Swarm: a new service, a new spec, or the previous spec back (`rollback=previous`). */
  kind: 'create' | 'update' | 'rollback';
  /** Whether the spec asked for changes what tasks run (else Swarm replaces no task). */
  templateChanged: boolean;
  /** The service's UpdateStatus now, and the start of the one it had before the request. */
  update?: UpdateView;
  previousStartedAt?: string;
  /** How many tasks should run: the replicas, or the nodes of a global service's roles. */
  desired: number;
  tasks: readonly TaskView[];
}

export type RolloutVerdict = { done: false } | { done: true; ok: true } | { done: true; ok: false; rolledBack: boolean; reason: string };

const WAITING = { done: false } as const;
const OK = { done: true, ok: true } as const;

export function rolloutVerdict(view: RolloutView, describe: (task: TaskView) => string): RolloutVerdict {
  const update = view.update && view.update.startedAt !== view.previousStartedAt ? view.update : undefined;
  const failure = (rolledBack: boolean, what: string): RolloutVerdict => {
    const task = failedTask(view.tasks, update?.message);
    return {
      done: true,
      ok: false,
      rolledBack,
      reason: `${what}${task ? `: ${describe(task)}` : update?.message ? ` (${update.message})` : ''}`,
    };
  };
  if (update) {
    switch (update.state) {
      case 'updating':
      case 'rollback_started':
        return WAITING;
      case 'completed':
        return view.kind === 'rollback' ? WAITING : OK;
      case 'rollback_completed':
        return view.kind === 'rollback' ? OK : failure(true, 'Swarm rolled the update back');
      case 'paused':
        return failure(false, 'Swarm paused the update');
      case 'rollback_paused':
        return failure(false, 'Swarm paused the rollback');
    }
  }
  // Without an UpdateStatus of its own the request replaced no task yet, or never will: tasks tell.
  if (view.kind !== 'create' && view.templateChanged) return WAITING;
  const failed = view.tasks.find((task) => task.current && ['failed', 'rejected'].includes(task.state));
  if (view.kind === 'create' && failed) return { done: true, ok: false, rolledBack: false, reason: describe(failed) };
  const running = view.tasks.filter((task) => task.current && task.desired === 'running' && task.state === 'running').length;
  const stale = view.tasks.some((task) => !task.current && task.desired === 'running');
  return running >= view.desired && !stale ? OK : WAITING;
}

/** The task whose failure made Swarm act: the one its message names, else the newest failed one. */
export function failedTask(tasks: readonly TaskView[], message: string | undefined): TaskView | undefined {
  const named = /task ([a-z0-9]{10,})/.exec(message ?? '')?.[1];
  const byId = named ? tasks.find((task) => task.id === named || task.id.startsWith(named)) : undefined;
  if (byId) return byId;
  return [...tasks].filter((task) => ['failed', 'rejected'].includes(task.state)).sort((a, b) => (b.at ?? '').localeCompare(a.at ?? ''))[0];
}

/** `web.1 on vm (10.213.0.13): failed: task: non-zero exit (137): dockerexec: unhealthy container` */
export function describeTask(service: string, task: TaskView, names: ReadonlyMap<string, string>): string {
  const node = task.nodeId ? ` on ${names.get(task.nodeId) ?? task.nodeId.slice(0, 12)}` : '';
  const which = task.slot !== undefined ? `${service}.${task.slot}` : service;
  const desired =
    task.desired !== task.state &&
    ['shutdown', 'remove'].includes(task.desired) &&
    !['shutdown', 'complete', 'failed', 'rejected'].includes(task.state)
      ? ` (stopping)`
      : '';
  return `${which}${node}: ${task.state}${desired}${task.tag ? ` ${task.tag}` : ''}${task.err ? `: ${task.err}` : ''}`;
}

/**
 * The lines to print for tasks that changed since `seen` (task id → what was printed), which is updated: a rollout
 * prints one line per task each time its state changes, and nothing for tasks that were already as they are.
 */
export function taskLines(
  service: string,
  tasks: readonly TaskView[],
  seen: Map<string, string>,
  names: ReadonlyMap<string, string>,
): string[] {
  const lines: string[] = [];
  for (const task of [...tasks].sort((a, b) => (a.at ?? '').localeCompare(b.at ?? ''))) {
    const line = describeTask(service, task, names);
    if (seen.get(task.id) !== line) lines.push(line);
    seen.set(task.id, line);
  }
  return lines;
}

/** What `pipeline status` says of a service's rollout: converged, or where its last update stands. */
export function describeUpdate(update: { State?: string; Message?: string } | undefined, running: number, desired: number): string {
  switch (update?.State) {
    case 'updating':
      return 'updating';
    case 'rollback_started':
      return 'rolling back';
    case 'rollback_completed':
      return `last update rolled back${update.Message && update.Message !== 'rollback completed' ? ` (${update.Message})` : ''}`;
    case 'paused':
      return `update paused${update.Message ? `: ${update.Message}` : ''}`;
    case 'rollback_paused':
      return `rollback paused${update.Message ? `: ${update.Message}` : ''}`;
    default:
      return running >= desired ? 'converged' : 'converging';
  }
}
