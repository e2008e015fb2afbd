import type { ListrTask, ListrTaskWrapper } from 'listr2';
import type { Masker } from '../core/mask.js';
import { HostError, StageError } from '../errors.js';
import type { TargetMember } from './target.js';

export type MemberTask = ListrTaskWrapper<unknown, never, never>;

export interface PhaseOptions {
  /** Members worked on at once. */
  concurrency: number;
  signal: AbortSignal;
  mask: Masker;
  /** Where a member's lines go while this phase works on it. */
  attachLog(id: string, log: (line: string) => void): void;
  /** Told of each member that fails, first failure first. */
  onFailure(id: string): void;
  /** What to do when a member failed, before the phase fails; its text ends the phase's message (e.g. how the others were put back). */
  afterFailure?: () => Promise<string>;
}

/**
 * One step of a deploy run on every member at once: a task per member, whose failures do not stop the others,
 * then a gate that fails the phase (and so the deploy) naming every member that failed.
 */
export class Phase {
  private readonly failures: string[] = [];

  constructor(
    readonly title: string,
    private readonly members: () => readonly TargetMember[],
    private readonly work: (member: TargetMember, task: MemberTask) => Promise<void>,
    private readonly options: PhaseOptions,
  ) {}

  task(): ListrTask {
    return {
      title: this.title,
      task: (_ctx, phaseTask) => {
        if (this.options.signal.aborted) throw stopReason(this.options.signal);
        const members: ListrTask = {
          task: (_members, group) =>
            group.newListr(
              this.members().map((member) => this.memberTask(member)),
              { concurrent: this.options.concurrency, exitOnError: false },
            ),
        };
        const gate: ListrTask = {
          task: () =>
            this.gate((text) => {
              phaseTask.title = text;
            }),
        };
        return phaseTask.newListr([members, gate], { exitOnError: true });
      },
    };
  }

  private memberTask(member: TargetMember): ListrTask {
    const { mask, attachLog, onFailure } = this.options;
    return {
      title: member.id,
      task: async (_ctx, memberTask) => {
        attachLog(member.id, (line) => {
          memberTask.output = mask(`${member.id}: ${line}`);
        });
        try {
          await this.work(member, memberTask as MemberTask);
        } catch (error) {
          onFailure(member.id);
          this.failures.push(`${member.id}: ${error instanceof HostError ? error.reason : (error as Error).message}`);
          throw error;
        }
      },
    };
  }

  /** Failed members do not fail their group (exitOnError: false): the gate does, or says on the phase that all went well. */
  private async gate(retitle: (text: string) => void): Promise<void> {
    if (this.failures.length > 0) {
      const after = this.options.afterFailure ? await this.options.afterFailure() : '';
      throw new StageError(
        this.options.mask(`${this.title} failed on ${this.failures.length} host(s): ${this.failures.join('; ')}${after}`),
      );
    }
    retitle(`${this.title}: ${this.members().length} host(s) ok`);
  }
}

/** Why a deploy stopped: the reason it was aborted with (a lost lock), else a signal. */
export function stopReason(signal: AbortSignal): StageError {
  return signal.reason instanceof StageError ? signal.reason : new StageError('stopped by a signal');
}
