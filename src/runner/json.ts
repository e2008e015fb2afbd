import {
  ListrLogger,
  ListrLogLevels,
  type ListrRenderer,
  type ListrRendererFactory,
  type ListrRendererTask,
  type ListrSimpleRendererOptions,
  ListrTaskEventType,
  ListrTaskState,
  SimpleRenderer,
} from 'listr2';
import type { ResultEvent } from './result.js';

type Task = ListrRendererTask<ListrRendererFactory>;
export type ProgressStatus = 'started' | 'success' | 'failure' | 'skipped';

export interface StageEvent {
  type: 'stage';
  stage: string;
  status: ProgressStatus;
  time: string;
  durationMs?: number;
  message?: string;
}
export interface HostEvent {
  type: 'host';
  environment: string;
  phase: string;
  host: string;
  status: ProgressStatus;
  time: string;
  durationMs?: number;
  message?: string;
}
export interface OutputEvent {
  type: 'output';
  stage: string;
  host?: string;
  line: string;
}
export type JsonEvent = StageEvent | HostEvent | OutputEvent | ResultEvent;

/** Where a task sits in the run: its stage and, for one host's part of a deploy phase, the environment, phase and host. */
export interface TaskPlace {
  stage: string;
  host?: { environment: string; phase: string; host: string };
}

/**
 * Places a task by the titles it was created with (stages rename their tasks
 * as they go). The deploy stage nests environment → phase → host, so a task
 * four deep under deploy is one host's part of a phase.
 */
export function placeOf(names: readonly string[]): TaskPlace {
  const [stage = '', environment, phase, host] = names;
  if (stage === 'deploy' && names.length === 4 && host) return { stage, host: { environment: environment!, phase: phase!, host: host! } };
  return { stage };
}

/** The titles of a task and the tasks above it; untitled groups (a phase's members and its gate) are not levels. */
function initialNames(task: Task): string[] {
  const names: string[] = [];
  for (let current: Task | undefined = task; current; current = current.parent) {
    const name = current.initialTitle ?? current.title ?? '';
    if (name !== '' || current === task) names.unshift(name);
  }
  return names;
}

/** What a finished task's title adds to its name ("build: app:master (3f2a…)" → "app:master (3f2a…)"). */
function titleNote(task: Task): string | undefined {
  const { title, initialTitle } = task;
  if (!title || title === initialTitle) return undefined;
  return initialTitle && title.startsWith(`${initialTitle}: `) ? title.slice(initialTitle.length + 2) : title;
}

function writeStdout(line: string): void {
  // process.stdout.write, never a captured reference: the CLI masks secrets there.
  process.stdout.write(line);
}

function jsonLine(event: JsonEvent): string {
  return `${JSON.stringify(event)}\n`;
}

export function writeJsonEvent(event: JsonEvent, write: (line: string) => void = writeStdout): void {
  write(jsonLine(event));
}

let resultWritten = false;

/**
 * Writes the result event, once per process: a run that ends writes it, and the
 * CLI's last-resort error handler (usage and configuration errors) only when no run did.
 */
export function writeResult(event: ResultEvent, write?: (line: string) => void): void {
  if (resultWritten) return;
  resultWritten = true;
  writeJsonEvent(event, write);
}

export interface JsonRendererOptions {
  /** Where JSON lines go (one or more whole lines per call); stdout by default. */
  write?: (line: string) => void;
  now?: () => number;
  /** Options of the human-readable lines written to stderr alongside, as the simple renderer writes them; false for none. */
  human?: ListrSimpleRendererOptions | false;
}

/**
 * A listr2 renderer for machines: one JSON object per line on stdout for each
 * stage and deploy host that starts and ends, and for each line of output;
 * people still get the simple renderer's lines, on stderr.
 */
export class JsonRenderer implements ListrRenderer {
  static nonTTY = true;
  static rendererOptions: JsonRendererOptions = {};
  static rendererTaskOptions: Record<PropertyKey, never> = {};

  private readonly started = new Map<string, number>();
  private readonly ended = new Set<string>();
  private readonly human?: SimpleRenderer;
  private readonly write: (line: string) => void;
  private readonly now: () => number;

  constructor(
    private readonly tasks: Task[],
    options: JsonRendererOptions = {},
  ) {
    this.write = options.write ?? writeStdout;
    this.now = options.now ?? Date.now;
    if (options.human !== false) {
      // Lines for people all go to stderr: stdout is the JSON stream.
      const logger = options.human?.logger ?? new ListrLogger({ useIcons: true, toStderr: Object.values(ListrLogLevels) });
      this.human = new SimpleRenderer(tasks as never, { ...options.human, logger });
    }
  }

  render(): void {
    this.human?.render();
    this.follow(this.tasks);
  }

  end(): void {}

  private follow(tasks: Task[]): void {
    for (const task of tasks) {
      task.on(ListrTaskEventType.SUBTASK, (subtasks) => this.follow(subtasks));
      task.on(ListrTaskEventType.STATE, (state) => this.changed(task, state));
      task.on(ListrTaskEventType.OUTPUT, (output) => this.output(task, output));
      // listr2 says why a task failed only after its FAILED state: the end is known when it closes.
      task.on(ListrTaskEventType.CLOSED, () => {
        if (task.state === ListrTaskState.FAILED) this.progress(task, 'failure', task.message.error);
      });
    }
  }

  private changed(task: Task, state: ListrTaskState): void {
    if (state === ListrTaskState.STARTED) {
      this.progress(task, 'started');
    } else if (state === ListrTaskState.COMPLETED) {
      this.progress(task, 'success', titleNote(task));
    } else if (state === ListrTaskState.SKIPPED) {
      this.progress(task, 'skipped', task.message.skip);
    }
  }

  /** A stage's or a deploy host's progress; other tasks (environments, phases, checks) are seen through their output only. */
  private progress(task: Task, status: ProgressStatus, message?: string): void {
    const place = placeOf(initialNames(task));
    const isStage = !task.parent;
    if (!isStage && !place.host) return;
    if (status !== 'started') {
      if (this.ended.has(task.id)) return;
      this.ended.add(task.id);
    }
    const now = this.now();
    if (status === 'started') this.started.set(task.id, now);
    const timing = status === 'started' ? {} : { durationMs: now - (this.started.get(task.id) ?? now) };
    const detail = { status, time: new Date(now).toISOString(), ...timing, ...(message ? { message } : {}) };
    writeJsonEvent(place.host ? { type: 'host', ...place.host, ...detail } : { type: 'stage', stage: place.stage, ...detail }, this.write);
  }

  private output(task: Task, output: string): void {
    const { stage, host } = placeOf(initialNames(task));
    // One write for all the lines of an output: a test printing millions of lines makes as few writes as chunks.
    const events = output
      .split(/\r?\n/)
      .filter((line) => line.trim() !== '')
      .map((line) => jsonLine({ type: 'output', stage, ...(host ? { host: host.host } : {}), line }));
    if (events.length > 0) this.write(events.join(''));
  }
}
