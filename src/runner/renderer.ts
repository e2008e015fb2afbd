export const RENDERERS = ['default', 'simple', 'verbose', 'silent'] as const;
export type RendererName = (typeof RENDERERS)[number];

/** The live list for a person at a terminal; plain lines for CI logs and pipes. */
export function chooseRenderer(options: { requested?: RendererName; isTTY: boolean; ci: boolean }): RendererName {
  if (options.requested) return options.requested;
  return options.isTTY && !options.ci ? 'default' : 'simple';
}
