import type { DeployPlan, HostPlan } from '../core/plan.js';
import type { DeployConnection, Deps } from '../runner/context.js';

export type HostOutcome<T> = { host: HostPlan; ok: true; value: T } | { host: HostPlan; ok: false; error: string };

/** Runs a read-only look at every host of a plan in parallel, one connection each; an unreachable host is an outcome, not a throw. */
export async function onEveryHost<T>(plan: DeployPlan, deps: Deps, look: (connection: DeployConnection, host: HostPlan) => Promise<T>): Promise<HostOutcome<T>[]> {
  return Promise.all(plan.hosts.map(async (host): Promise<HostOutcome<T>> => {
    try {
      const connection = await deps.connect(host.address);
      try {
        return { host, ok: true, value: await look(connection, host) };
      } finally {
        await connection.close();
      }
    } catch (error) {
      return { host, ok: false, error: (error as Error).message };
    }
  }));
}
