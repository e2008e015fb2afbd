import type { PipelineConfig } from '../config/schema.js';
import { environmentSsh, type HostDefaults, parseHost } from '../core/hosts.js';
import type { DeployTarget, TargetMember } from '../deploy/target.js';
import { ConfigError } from '../errors.js';

export type MemberOutcome<T> = { member: TargetMember; ok: true; value: T } | { member: TargetMember; ok: false; error: string };

/** A read-only look at every member of a target at once; an unreachable member is an outcome, not a throw. The target is closed after. */
export async function onEveryMember<T>(target: DeployTarget, look: (member: TargetMember) => Promise<T>): Promise<MemberOutcome<T>[]> {
  try {
    return await Promise.all(
      target.members.map(async (member): Promise<MemberOutcome<T>> => {
        try {
          return { member, ok: true, value: await look(member) };
        } catch (error) {
          return { member, ok: false, error: (error as Error).message };
        }
      }),
    );
  } finally {
    await target.close();
  }
}

/** `  deploy@web-1 [web]`, and `: unreachable: …` for a member that could not be looked at. */
export function memberHeading(outcome: MemberOutcome<unknown>, note = ''): string {
  const { member } = outcome;
  return `  ${member.id} [${member.roles.join(', ')}]${outcome.ok ? note : `: unreachable: ${outcome.error}`}`;
}

/** Where `pipeline logs` and `pipeline exec` work: the members that run each service asked for, or the one `--host` names. */
export interface ServiceOnMember {
  member: TargetMember;
  service: string;
}

/**
 * The members of an environment that run the services (every service when none is named), each with the services it
 * runs; `host` keeps one member: its id (`deploy@web-1`), its host name (`web-1`) or the host as the config writes it.
 * An unknown service, or a host that does not run it, is a usage error. In a swarm, `host` is left to the target (a node).
 */
export function serviceMembers(
  config: Pick<PipelineConfig, 'services' | 'ssh' | 'environments'>,
  environment: string,
  members: readonly TargetMember[],
  service: string | undefined,
  host?: string,
): ServiceOnMember[] {
  const names = Object.keys(config.services);
  if (service !== undefined && !config.services[service])
    throw new ConfigError(`unknown service "${service}"; services: ${names.join(', ')}`);
  // A swarm's one member, its manager, reaches every service; `--host` names a node, which the target chooses.
  const swarm = config.environments[environment]?.swarm !== undefined;
  const runs = (member: TargetMember, name: string) => swarm || config.services[name]!.roles.some((role) => member.roles.includes(role));
  const wanted = service === undefined ? names : [service];
  const all = members.flatMap((member) => wanted.filter((name) => runs(member, name)).map((name) => ({ member, service: name })));
  if (all.length === 0)
    throw new ConfigError(
      service ? `${service} does not run in ${environment}: no host has its roles` : `no service runs in ${environment}`,
    );
  if (host === undefined || swarm) return all;
  const id = hostId(host, environmentSsh(config.ssh, config.environments[environment]?.ssh));
  const chosen = all.filter(({ member }) => member.id === host || member.id === id || hostName(member.id) === host);
  if (chosen.length === 0) {
    const hosts = [...new Set(all.map(({ member }) => member.id))];
    throw new ConfigError(
      `host ${host} is not a host of ${service ?? 'any service'} in ${environment}; ${hosts.length > 1 ? 'its hosts are' : 'its host is'} ${hosts.join(', ')}`,
    );
  }
  return chosen;
}

function hostId(spec: string, defaults: HostDefaults): string | undefined {
  try {
    return parseHost(spec, defaults).id;
  } catch {
    return undefined;
  }
}

/** `web-1` of `deploy@web-1:2222`. */
function hostName(id: string): string {
  return id
    .replace(/^[^@]*@/, '')
    .replace(/:\d+$/, '')
    .replace(/^\[(.*)\]$/, '$1');
}
