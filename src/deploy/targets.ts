import type { HostConnection } from '../adapters/ports.js';
import type { PipelineConfig } from '../config/schema.js';
import { environmentSsh, type HostAddress } from '../core/hosts.js';
import { planDeploy } from '../core/plan.js';
import type { RegistryAccess } from '../core/registry.js';
import { planSwarm } from '../core/swarm-spec.js';
import { FleetTarget } from './fleet/fleet.js';
import { SwarmTarget } from './swarm/swarm.js';
import type { DeployTarget } from './target.js';

export interface TargetDeps {
  registry: RegistryAccess | undefined;
  /** A connection to a host of `environment`, whose own `ssh` settings apply. */
  connect(address: HostAddress, environment: string): Promise<HostConnection>;
}

/** Where an environment's releases go: its fleet of hosts (SSH, or the runner's engine for `local`), or its swarm. */
export function createTarget(config: PipelineConfig, environment: string, deps: TargetDeps): DeployTarget {
  const env = config.environments[environment]!;
  if (env.swarm) {
    const { parallel, keepReleases, lockTtl } = config;
    return new SwarmTarget(planSwarm(config, environment), {
      parallel,
      keepReleases,
      lockTtlMs: lockTtl,
      registry: deps.registry,
      // Nodes are reached as the manager is: the environment's own ssh settings over the top-level ones.
      ssh: environmentSsh(config.ssh, env.ssh),
      connect: (address) => deps.connect(address, environment),
    });
  }
  return new FleetTarget(planDeploy(config, environment), {
    project: config.project,
    parallel: config.parallel,
    keepReleases: config.keepReleases,
    lockTtlMs: config.lockTtl,
    registry: deps.registry,
    connect: (address) => deps.connect(address, environment),
  });
}

/**
 * The targets of one command, one per environment, made on first use and closed together at the end: a run
 * opens its deploy's connections while it builds and tests, and the deploy stage finds them open.
 */
export class TargetPool {
  private readonly targets = new Map<string, DeployTarget>();

  constructor(private readonly make: (environment: string) => DeployTarget) {}

  get(environment: string): DeployTarget {
    let target = this.targets.get(environment);
    if (!target) {
      target = this.make(environment);
      this.targets.set(environment, target);
    }
    return target;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.targets.values()].map((target) => target.close()));
  }
}
