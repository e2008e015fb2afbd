export const RENDERERS = ['default', 'simple', 'verbose', 'silent'] as const;
export type RendererName = (typeof RENDERERS)[number];
/** What a run renders: a listr2 renderer for people, or JSON events on stdout (with lines for people on stderr). */
export type RunRenderer = RendererName | 'json';

/** The live list for a person at a terminal; plain lines for CI logs and pipes; JSON when a program reads stdout. */
export function chooseRenderer(options: { requested?: RendererName; json?: boolean; isTTY: boolean; ci: boolean }): RunRenderer {
  if (options.json) return 'json';
  if (options.requested) return options.requested;
  return options.isTTY && !options.ci ? 'default' : 'simple';
}
