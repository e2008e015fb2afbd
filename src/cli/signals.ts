import { signalExitCode } from '../errors.js';

/**
 * Runs a command that stops on SIGINT or SIGTERM (`logs --follow`, `exec`): the signal aborts what runs, which cleans up
 * (a one-off container is removed), and the exit code then says which signal it was.
 */
export async function untilSignal(work: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    received ??= signal;
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const code = await work(controller.signal);
    return received ? signalExitCode(received) : code;
  } catch (error) {
    if (received) return signalExitCode(received);
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
