import type Docker from 'dockerode';
import type { ListrTask } from 'listr2';
import { checkLocalEngine, readContainerFile, runToCompletion } from '../adapters/docker.js';
import { StageError } from '../errors.js';
import { type Deps, type RunContext, stageEnabled } from '../runner/context.js';

/** Runs the test command in a container of the image just built; the container is always removed. */
export function testStage(deps: Deps): ListrTask<RunContext> {
  return {
    title: 'test',
    enabled: (ctx) => stageEnabled(ctx.options, 'test'),
    skip: (ctx) => (ctx.config.test ? false : 'no test command configured'),
    task: async (ctx, task) => {
      const { config, commit } = ctx;
      const docker = await deps.docker();
      await checkLocalEngine(docker);
      const image = `${config.image}:${commit!.sha}`;
      task.title = `test: ${config.test!.command.join(' ')}`;
      const code = await runToCompletion(
        docker,
        {
          image,
          command: config.test!.command,
          env: config.test!.env,
          labels: { 'pipeline.project': config.project, 'pipeline.stage': 'test' },
          signal: deps.signal,
          afterExit: (container) =>
            copyTestResults(ctx, container, (line) => {
              task.output = line;
            }),
        },
        (lines) => {
          task.output = deps.show(lines);
        },
      );
      if (code !== 0) throw new StageError(`tests failed: ${config.test!.command.join(' ')} exited with code ${code}`);
    },
  };
}

/** Keeps the JUnit XML the test command wrote (test.reports) for the run's report; a run without it says so and goes on. */
async function copyTestResults(ctx: RunContext, container: Docker.Container, say: (line: string) => void): Promise<void> {
  const path = ctx.config.test?.reports;
  if (!path) return;
  ctx.testResults = await readContainerFile(container, path);
  if (ctx.testResults === undefined) say(`no test results at ${path} in the test container`);
}
