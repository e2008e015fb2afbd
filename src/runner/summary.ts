import type { ServiceAction } from '../core/changes.js';
import type { RunContext, StageResult } from './context.js';

/** One service on one host after a deploy: what runs there now. */
export interface DeploymentRow {
  environment: string;
  host: string;
  service: string;
  action: ServiceAction;
  image: string;
  digest?: string;
}

/** The deploys of a run as host × service rows, in the order they were recorded. */
export function deploymentRows(ctx: Pick<RunContext, 'deployments'>): DeploymentRow[] {
  return ctx.deployments.flatMap(({ environment, host, services }) =>
    services.map(({ service, action, image, digest }) => ({ environment, host, service, action, image, ...(digest ? { digest } : {}) })),
  );
}

/** "0.4s", "12.3s", "2m 05s": short enough for a table column, precise enough to compare runs. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, '0')}s`;
}

/** Pads every column to its widest cell so the rows line up; the last column is not padded. */
export function alignColumns(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
  return rows.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** A stage's note in the table: why it was skipped or failed, on one line. */
function stageNote(stage: StageResult): string {
  return stage.message?.split('\n')[0] ?? '';
}

function stageTable(stages: readonly StageResult[]): string[] {
  return alignColumns([
    ['stage', 'status', 'duration', ''],
    ...stages.map((stage) => [
      stage.stage,
      stage.status,
      stage.status === 'skipped' ? '-' : formatDuration(stage.durationMs),
      stageNote(stage),
    ]),
  ]);
}

function deploymentTable(rows: readonly DeploymentRow[]): string[] {
  return alignColumns([
    ['environment', 'host', 'service', 'action', 'image', 'digest'],
    ...rows.map((row) => [row.environment, row.host, row.service, row.action, row.image, row.digest ?? '-']),
  ]);
}

/**
 * The table a run ends with: each stage's status and duration, then for
 * deploys what runs on each host (image tag and digest), then the addresses
 * to open. Empty when no stage ran.
 */
export function summaryTable(ctx: Pick<RunContext, 'stages' | 'deployments' | 'urls'>): string {
  const sections: string[][] = [];
  if (ctx.stages.length > 0) sections.push(stageTable(ctx.stages));
  const rows = deploymentRows(ctx);
  if (rows.length > 0) sections.push(deploymentTable(rows));
  if (ctx.urls.length > 0) sections.push(ctx.urls.map(({ service, host, url }) => `${service} on ${host}: ${url}`));
  return sections.length > 0 ? `${sections.map((lines) => lines.join('\n')).join('\n\n')}\n` : '';
}
