export class PipelineError extends Error { constructor(message: string, options?: { cause?: unknown }) { super(message, options); this.name = new.target.name; } }
/** Bad usage or invalid configuration: exit 2. */
export class ConfigError extends PipelineError {}
/** A stage failed: exit 1. */
export class StageError extends PipelineError {}
/** Something about one deploy host failed: exit 1; the message names the host. */
export class HostError extends PipelineError {
  /** The message without the host in front, for lists that name the host already. */
  readonly reason: string;
  constructor(readonly host: string, message: string, options?: { cause?: unknown }) { super(`${host}: ${message}`, options); this.reason = message; }
}
