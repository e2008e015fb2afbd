/**
 * What a deploy does to each service of a swarm, from what the swarm runs now: the one decision that `pipeline plan`
 * prints and the deploy takes; and the release history a service keeps for `pipeline rollback`.
 */
import type { ServiceChange } from './changes.js';
import type { ServiceImage, SwarmServicePlan } from './swarm-spec.js';

/** A pipeline service's Swarm service, as read from the manager. */
export interface ObservedService {
  id: string;
  /** The pipeline service it is (`web`). */
  service: string;
  /** The environment its labels name, when the pipeline made it. */
  environment?: string;
  /** Tasks that should run and that run. */
  desired: number;
  running: number;
  /** What its spec runs now. */
  image?: ServiceImage;
  /** What it ran before, newest first. */
  history: ServiceImage[];
}

/**
 * - create: no such service yet;
 * - update: the service gets the new spec (Swarm rolls out its tasks if what they run changed);
 * - leave: a `redeploy: false` service with a running task is left alone;
 * - remove: a service of the project and environment that the config no longer has (removed once the deploy succeeded).
 */
export type SwarmAction = 'create' | 'update' | 'leave' | 'remove';

export interface SwarmChange {
  service: string;
  action: SwarmAction;
  current?: ObservedService;
  /** Replace the tasks even if the spec is the same: a `redeploy: false` service none of whose tasks runs. */
  force?: boolean;
}

export function planSwarmChanges(services: readonly SwarmServicePlan[], observed: ReadonlyMap<string, ObservedService>): SwarmChange[] {
  const changes = services.map((svc): SwarmChange => {
    const current = observed.get(svc.service);
    if (!current) return { service: svc.service, action: 'create' };
    if (!svc.redeploy)
      return current.running > 0
        ? { service: svc.service, action: 'leave', current }
        : { service: svc.service, action: 'update', current, force: true };
    return { service: svc.service, action: 'update', current };
  });
  for (const [service, current] of observed) {
    if (!services.some((svc) => svc.service === service)) changes.push({ service, action: 'remove', current });
  }
  return changes;
}

/** The same decision in the words `pipeline plan` prints for any target. */
export function asServiceChange(change: SwarmChange): ServiceChange {
  const action = ({ create: 'start', update: 'replace', leave: 'leave', remove: 'remove' } as const)[change.action];
  const { current } = change;
  if (!current) return { service: change.service, action };
  const seen = {
    running: current.running > 0,
    image: current.image?.image ?? 'no image',
    ...(current.image ? { tag: current.image.tag } : {}),
    ...(current.image?.digest ? { digest: current.image.digest } : {}),
  };
  return { service: change.service, action, current: seen };
}

/** The history the new spec carries: what ran until now first, without the release being deployed, at most `keep`. */
export function nextHistory(current: ObservedService | undefined, next: ServiceImage, keep: number): ServiceImage[] {
  const before = current?.image ? [current.image, ...current.history] : (current?.history ?? []);
  const seen = new Set<string>([next.image]);
  return before.filter((entry) => !seen.has(entry.image) && seen.add(entry.image)).slice(0, keep);
}

/** The kept release a rollback brings back — the newest, or the one deployed with `to` — and the history it leaves. */
export function rollbackTarget(
  history: readonly ServiceImage[],
  to?: string,
): { target: ServiceImage; history: ServiceImage[] } | undefined {
  const index = to === undefined ? (history.length > 0 ? 0 : -1) : history.findIndex((entry) => entry.tag === to);
  return index === -1 ? undefined : { target: history[index]!, history: history.slice(index + 1) };
}

/** A history label as stored; anything unreadable is no history. */
export function parseHistory(text: string | undefined): ServiceImage[] {
  try {
    const parsed: unknown = JSON.parse(text ?? '[]');
    return Array.isArray(parsed) ? parsed.filter((e): e is ServiceImage => typeof e?.image === 'string' && typeof e?.tag === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * What a task template makes tasks run, as a comparable text: two templates (a service's, a task's) with the same
 * fingerprint run the same thing. Fields Swarm fills in (platforms, reservations, isolation…) are left out, and the
 * defaults the Engine leaves out of its answers are filled in.
 */
export function templateFingerprint(template: TemplateShape | undefined): string {
  const c = template?.ContainerSpec ?? {};
  const health = c.HealthCheck;
  return stableJson({
    image: c.Image ?? '',
    command: c.Command ?? [],
    args: c.Args ?? [],
    env: c.Env ?? [],
    labels: c.Labels ?? {},
    stopGrace: c.StopGracePeriod ?? 0,
    health: health
      ? {
          test: health.Test ?? [],
          interval: health.Interval ?? 0,
          timeout: health.Timeout ?? 0,
          retries: health.Retries ?? 0,
          start: health.StartPeriod ?? 0,
        }
      : null,
    mounts: (c.Mounts ?? []).map((m) => ({
      type: m.Type ?? '',
      source: m.Source ?? '',
      target: m.Target ?? '',
      readOnly: m.ReadOnly ?? false,
      labels: m.VolumeOptions?.Labels ?? {},
    })),
    user: c.User ?? '',
    hosts: c.Hosts ?? [],
    memory: template?.Resources?.Limits?.MemoryBytes ?? 0,
    cpus: template?.Resources?.Limits?.NanoCPUs ?? 0,
    logDriver: template?.LogDriver ? { name: template.LogDriver.Name ?? '', options: template.LogDriver.Options ?? {} } : null,
    constraints: template?.Placement?.Constraints ?? [],
    networks: (template?.Networks ?? []).map((n) => ({ target: n.Target ?? '', aliases: n.Aliases ?? [] })),
    force: template?.ForceUpdate ?? 0,
  });
}

/** The parts of a task template (a service's TaskTemplate, a task's Spec) that say what its tasks run. */
export interface TemplateShape {
  ContainerSpec?: {
    Image?: string;
    Command?: string[];
    Args?: string[];
    Env?: string[];
    Labels?: Record<string, string>;
    StopGracePeriod?: number;
    HealthCheck?: { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number };
    Mounts?: { Type?: string; Source?: string; Target?: string; ReadOnly?: boolean; VolumeOptions?: { Labels?: Record<string, string> } }[];
    User?: string;
    Hosts?: string[];
  };
  Resources?: { Limits?: { MemoryBytes?: number; NanoCPUs?: number } };
  LogDriver?: { Name?: string; Options?: Record<string, string> };
  Placement?: { Constraints?: string[] };
  Networks?: { Target?: string; Aliases?: string[] }[];
  ForceUpdate?: number;
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${stableJson((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}
