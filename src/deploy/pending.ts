import type { ExecResult, HostExec } from '../adapters/ports.js';
import { type PendingDeploy, parsePending } from '../core/leftovers.js';

/** Where a host keeps the pending record of an environment's deploy (see core/leftovers.ts), beside the locks. */
export function pendingPath(project: string, environment: string): string {
  return `.pipeline/pending/${project}-${environment}.json`;
}

const EXEC_TIMEOUT_MS = 20_000;

/** Writes the record from stdin to a new file renamed into place: a reader never sees half a record. */
const WRITE_SCRIPT = `
file=$1
mkdir -p "\${file%/*}" && cat >"$file.new" && mv -f "$file.new" "$file"
`;

export async function readPending(exec: HostExec, path: string): Promise<PendingDeploy | undefined> {
  const result = await exec(['cat', path], { timeoutMs: EXEC_TIMEOUT_MS });
  return result.code === 0 ? parsePending(result.stdout) : undefined;
}

/** One command: the record is written before the host switches anything. */
export async function writePending(exec: HostExec, path: string, record: PendingDeploy): Promise<void> {
  const result = await exec(['sh', '-c', WRITE_SCRIPT, 'sh', path], { stdin: JSON.stringify(record), timeoutMs: EXEC_TIMEOUT_MS });
  if (result.code !== 0) throw failure('writing the pending deploy record', result);
}

/** One command: the environment is verified (or the host back where it was), nothing is pending any more. */
export async function clearPending(exec: HostExec, path: string): Promise<void> {
  const result = await exec(['rm', '-f', path], { timeoutMs: EXEC_TIMEOUT_MS });
  if (result.code !== 0) throw failure('removing the pending deploy record', result);
}

function failure(what: string, result: ExecResult): Error {
  return new Error(`${what} failed on the host (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
}
