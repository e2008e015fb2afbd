export class PipelineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}
/** Bad usage or invalid configuration: exit 2. */
export class ConfigError extends PipelineError {}
/** A stage failed: exit 1. */
export class StageError extends PipelineError {}
/** Something about one deploy host failed: exit 1; the message names the host. */
export class HostError extends PipelineError {
  /** The message without the host in front, for lists that name the host already. */
  readonly reason: string;
  constructor(
    readonly host: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${host}: ${message}`, options);
    this.reason = message;
  }
}

/** Every exit code the CLI ends with. */
export const EXIT = { success: 0, failure: 1, usage: 2, sigint: 130, sigterm: 143 } as const;

/** Bad usage or configuration is exit 2, anything else that went wrong exit 1 (signals are decided where they are caught). */
export function exitCodeFor(error: unknown): number {
  return error instanceof ConfigError ? EXIT.usage : EXIT.failure;
}

/** The exit code of a run stopped by a signal. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm;
}
