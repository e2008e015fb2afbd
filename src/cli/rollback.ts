import { detectCi } from '../core/ci.js';
import { findEnvironment } from '../core/resolve.js';
import { createRunContext } from '../runner/context.js';
import { type CommonArgs, type LockArgs, load, lockWaitArg, type OutputArgs, runWithSignals } from './commands.js';

interface RollbackArgs extends CommonArgs, OutputArgs, LockArgs {
  environment: string;
  to?: string;
}

/**
 * `pipeline rollback ENV [--to TAG]`: on every host, under the lock, the release
 * that was live before the current one comes back from its kept containers
 * (no pull), health-checked; repeated, it walks further back.
 */
export async function rollbackCommand(args: RollbackArgs): Promise<number> {
  const loaded = await load(args);
  const environment = findEnvironment(loaded.config, args.environment);
  const ctx = createRunContext(
    loaded,
    { cwd: args.cwd, only: [], skip: [], env: environment, rollback: { to: args.to }, lockWait: lockWaitArg(args) },
    detectCi(process.env),
  );
  return runWithSignals(['resolve', 'deploy'], ctx, loaded, args.renderer, args);
}
