/**
 * A service's container options (volumes, limits, user, labels, logging, extra hosts) as a Swarm task template
 * carries them, the way `docker stack deploy` maps Compose's fields (pure).
 */
import type { ContainerOptions } from './container-options.js';
import { LABEL_PREFIX } from './labels.js';

/** A mount of a task's container; a named volume is created on its node, labelled as a fleet host labels it. */
export interface MountSpec {
  Type: 'volume' | 'bind';
  Source: string;
  Target: string;
  ReadOnly: boolean;
  VolumeOptions?: { Labels: Record<string, string> };
}

export interface ResourcesSpec {
  Limits: { MemoryBytes?: number; NanoCPUs?: number };
}

export interface LogDriverSpec {
  Name: string;
  Options: Record<string, string>;
}

/** The option fields of a ContainerSpec and of a TaskTemplate; a field the options do not set is left out. */
export interface SwarmOptions {
  container: { Mounts?: MountSpec[]; User?: string; Hosts?: string[] };
  template: { Resources?: ResourcesSpec; LogDriver?: LogDriverSpec };
}

export function swarmOptions(options: ContainerOptions, project: string): SwarmOptions {
  const limits = {
    ...(options.memory !== undefined ? { MemoryBytes: options.memory } : {}),
    ...(options.cpus !== undefined ? { NanoCPUs: Math.round(options.cpus * 1e9) } : {}),
  };
  return {
    container: {
      ...(options.volumes.length > 0 ? { Mounts: options.volumes.map((mount) => mountSpec(mount, project)) } : {}),
      ...(options.user !== undefined ? { User: options.user } : {}),
      ...(options.extraHosts.length > 0 ? { Hosts: options.extraHosts.map(hostsEntry) } : {}),
    },
    template: {
      ...(Object.keys(limits).length > 0 ? { Resources: { Limits: limits } } : {}),
      ...(options.logging ? { LogDriver: { Name: options.logging.driver, Options: options.logging.options } } : {}),
    },
  };
}

function mountSpec(mount: ContainerOptions['volumes'][number], project: string): MountSpec {
  const spec: MountSpec = { Type: mount.type, Source: mount.source, Target: mount.target, ReadOnly: mount.readOnly };
  return mount.type === 'volume' ? { ...spec, VolumeOptions: { Labels: { [`${LABEL_PREFIX}project`]: project } } } : spec;
}

/** `host:ip` as Swarm writes /etc/hosts entries: `ip host` (an IPv6 address keeps its colons). */
export function hostsEntry(extraHost: string): string {
  const colon = extraHost.indexOf(':');
  return `${extraHost.slice(colon + 1)} ${extraHost.slice(0, colon)}`;
}
