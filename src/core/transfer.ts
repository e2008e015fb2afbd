/**
 * Progress of an image transfer (a push, a pull) from the Engine's per-layer events, summed over the layers, with
 * the moments worth telling people: every tenth of the known total, at most every `everyMs` while bytes move, and
 * the end. Never a line per event: a large layer makes thousands of them.
 */

/** One Engine progress event, as a push or pull stream sends it. */
export interface LayerEvent {
  id?: string;
  status?: string;
  progressDetail?: { current?: number; total?: number };
}

export interface TransferReport {
  /** Bytes moved so far, over every layer that moves. */
  done: number;
  /** Bytes to move, as far as known: a layer's size is known once it starts. */
  total: number;
  bytesPerSecond: number;
  /** The transfer has ended. */
  final: boolean;
}

export interface TransferPolicy {
  /** Reported at each step of this fraction of the total (0.1: every 10%). */
  step: number;
  /** And at least this often while bytes move. */
  everyMs: number;
  /** A transfer smaller than this is only reported at its end. */
  minBytes: number;
}

export const TRANSFER_POLICY: TransferPolicy = { step: 0.1, everyMs: 5_000, minBytes: 1_000_000 };

interface Layer {
  done: number;
  total: number;
}

export interface TransferState {
  layers: ReadonlyMap<string, Layer>;
  /** When the first byte moved. */
  startedAt?: number;
  reportedAt?: number;
  /** The highest step reported (0..1/step). */
  reportedStep: number;
  reportedDone: number;
}

export const NEW_TRANSFER: TransferState = { layers: new Map(), reportedStep: 0, reportedDone: 0 };

/** Statuses that carry a layer's bytes as they move: `Downloading` (pull) and `Pushing` (push). */
const MOVING = new Set(['Downloading', 'Pushing']);
/** Statuses that say a layer's bytes have all moved. */
const MOVED = new Set(['Download complete', 'Verifying Checksum', 'Pull complete', 'Pushed']);

/** The next state after one event, and the report to give now, if any. */
export function transferStep(
  state: TransferState,
  event: LayerEvent,
  now: number,
  policy: TransferPolicy = TRANSFER_POLICY,
): { state: TransferState; report?: TransferReport } {
  const next = withEvent(state, event, now);
  if (next === state) return { state };
  const { done, total } = sums(next.layers);
  const step = total > 0 ? Math.floor(done / total / policy.step + 1e-9) : 0;
  const due = step > next.reportedStep || (next.reportedAt !== undefined ? now - next.reportedAt : now - next.startedAt!) >= policy.everyMs;
  if (!due || done === next.reportedDone || total < policy.minBytes) return { state: next };
  return {
    state: { ...next, reportedAt: now, reportedStep: Math.max(step, next.reportedStep), reportedDone: done },
    report: { done, total, bytesPerSecond: rate(done, next.startedAt!, now), final: false },
  };
}

/** The report at the end of a transfer: undefined when no byte moved (every layer was there already). */
export function transferEnd(state: TransferState, now: number): TransferReport | undefined {
  const { done, total } = sums(state.layers);
  if (done === 0 || state.startedAt === undefined) return undefined;
  return { done, total, bytesPerSecond: rate(done, state.startedAt, now), final: true };
}

function withEvent(state: TransferState, event: LayerEvent, now: number): TransferState {
  const { id, status = '' } = event;
  if (id === undefined) return state;
  const known = state.layers.get(id);
  let layer: Layer | undefined;
  if (MOVING.has(status)) {
    const total = event.progressDetail?.total ?? known?.total ?? 0;
    const current = event.progressDetail?.current ?? known?.done ?? 0;
    layer = { done: Math.min(Math.max(current, known?.done ?? 0), total || current), total: Math.max(total, current) };
  } else if (MOVED.has(status) && known) {
    layer = { done: known.total, total: known.total };
  }
  if (!layer || (known && known.done === layer.done && known.total === layer.total)) return state;
  const layers = new Map(state.layers);
  layers.set(id, layer);
  return { ...state, layers, startedAt: state.startedAt ?? now };
}

function sums(layers: ReadonlyMap<string, Layer>): { done: number; total: number } {
  let done = 0;
  let total = 0;
  for (const layer of layers.values()) {
    done += layer.done;
    total += layer.total;
  }
  return { done, total };
}

function rate(done: number, startedAt: number, now: number): number {
  return now > startedAt ? Math.round((done * 1000) / (now - startedAt)) : 0;
}

/** Sizes as Docker prints them: powers of 1000, `kB`, `MB`, `GB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** `12.3 MB of 64.0 MB (19%), 30.5 MB/s`; at the end `64.0 MB done, 30.5 MB/s`. */
export function formatTransfer(report: TransferReport): string {
  const speed = `${formatBytes(report.bytesPerSecond)}/s`;
  if (report.final) return `${formatBytes(report.done)} done, ${speed}`;
  const percent = report.total > 0 ? ` (${Math.floor((report.done / report.total) * 100)}%)` : '';
  return `${formatBytes(report.done)} of ${formatBytes(report.total)}${percent}, ${speed}`;
}

/**
 * A transfer followed event by event, calling `report` with a line when one is due (see transferStep) and once at
 * its end; the clock is injected.
 */
export function followTransfer(
  report: (line: string) => void,
  now: () => number = Date.now,
  policy: TransferPolicy = TRANSFER_POLICY,
): { event(event: LayerEvent): void; end(): void } {
  let state = NEW_TRANSFER;
  return {
    event(event) {
      const step = transferStep(state, event, now(), policy);
      state = step.state;
      if (step.report) report(formatTransfer(step.report));
    },
    end() {
      const last = transferEnd(state, now());
      if (last) report(formatTransfer(last));
    },
  };
}
