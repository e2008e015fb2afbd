import type Docker from 'dockerode';
import type { ListrTask } from 'listr2';
import { checkLocalEngine, readContainerFile, runToCompletion } from '../adapters/docker.js';
import { StageError } from '../errors.js';
import { type Deps, type RunContext, stageEnabled } from '../runner/context.js';

/**
 * Runs the test command in a container of the image just built; the container is always removed. While it runs,
 * the upload by digest and the hosts' early pulls (stages/early.ts) show beside it.
 */
export function testStage(deps: Deps): ListrTask<RunContext> {
  return {
    title: 'test',
    enabled: (ctx) => stageEnabled(ctx.options, 'test'),
    skip: (ctx) => (ctx.config.test ? false : 'no test command configured'),
    task: (ctx, task) => {
      const command = ctx.config.test!.command.join(' ');
      task.title = `test: ${command}`;
      const { early } = deps;
      if (!early)
        return runTests(ctx, deps, (text) => {
          task.output = text;
        });
      let settle!: { passed(): void; failed(error: unknown): void };
      const tests = new Promise<void>((passed, failed) => {
        settle = { passed, failed };
      });
      return task.newListr(
        [
          {
            title: command,
            task: (_ctx, sub) =>
              runTests(ctx, deps, (text) => {
                sub.output = text;
              }).then(settle.passed, (error) => {
                settle.failed(error);
                throw error;
              }),
          },
          ...early.displayTasks(tests),
        ],
        { concurrent: true, exitOnError: true },
      );
    },
  };
}

async function runTests(ctx: RunContext, deps: Deps, show: (text: string) => void): Promise<void> {
  const { config, commit } = ctx;
  const docker = await deps.docker();
  await checkLocalEngine(docker);
  const code = await runToCompletion(
    docker,
    {
      image: `${config.image}:${commit!.sha}`,
      command: config.test!.command,
      env: config.test!.env,
      labels: { 'pipeline.project': config.project, 'pipeline.stage': 'test' },
      signal: deps.signal,
      afterExit: (container) => copyTestResults(ctx, container, show),
    },
    (lines) => show(deps.show(lines)),
  );
  if (code !== 0) throw new StageError(`tests failed: ${config.test!.command.join(' ')} exited with code ${code}`);
}

/** Keeps the JUnit XML the test command wrote (test.reports) for the run's report; a run without it says so and goes on. */
async function copyTestResults(ctx: RunContext, container: Docker.Container, say: (line: string) => void): Promise<void> {
  const path = ctx.config.test?.reports;
  if (!path) return;
  ctx.testResults = await readContainerFile(container, path);
  if (ctx.testResults === undefined) say(`no test results at ${path} in the test container`);
}
