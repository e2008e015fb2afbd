import type { PipelineConfigInput } from './config/schema.js';

export type { PipelineConfigInput as PipelineConfig } from './config/schema.js';

/** Types a pipeline.config.ts; it returns the config unchanged (a plain `export default {...}` works too). */
export function defineConfig(config: PipelineConfigInput): PipelineConfigInput {
  return config;
}
