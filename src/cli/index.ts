#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { detectCi } from '../core/ci.js';
import { ConfigError, EXIT, exitCodeFor, PipelineError } from '../errors.js';
import { resultEvent } from '../runner/result.js';
import { maskProcessOutput } from './output.js';
import { COMMANDS, checkCommand, normalizeArgv } from './usage.js';

const STAGE_NAMES = ['checkout', 'build', 'test', 'push', 'resolve', 'deploy'];
const RENDERER_NAMES = ['default', 'simple', 'verbose', 'silent'];

/** Options every command takes. */
function common(args: Argv) {
  return args
    .option('config', { type: 'string', describe: 'Config file (default: pipeline.config.ts found from --cwd upwards)' })
    .option('cwd', { type: 'string', default: process.cwd(), defaultDescription: 'current folder', describe: 'Folder to run in' })
    .option('renderer', {
      choices: RENDERER_NAMES,
      describe: 'Output: default (live list on a terminal), simple (lines, for CI), verbose, silent',
    });
}

/** Options of the commands that run stages: machine-readable output and a report for CI. */
function outputOptions(args: Argv) {
  return args
    .option('json', {
      type: 'boolean',
      describe: 'Write JSON events to stdout, one per line, the last the result; lines for people go to stderr (--renderer is ignored)',
    })
    .option('report', {
      type: 'string',
      describe: 'Write a JUnit XML report of the stages (with the test results, see test.reports) to this file',
    });
}

/** Options of the commands that take the deploy lock. */
function lockOptions(args: Argv) {
  return args.option('lock-wait', {
    type: 'string',
    describe: 'Queue this long behind a deploy that holds the lock, e.g. 10m (0: fail at once; default: 10m in CI, 0 on a terminal)',
  });
}

function revisionOptions(args: Argv) {
  return args
    .option('branch', { type: 'string', describe: 'Branch name to build and resolve environments with (default: from the CI, else git)' })
    .option('ref', { type: 'string', describe: 'Git ref to build instead of HEAD' })
    .option('env', { type: 'string', describe: 'Deploy to this environment (or alias) instead of the one the branch resolves to' })
    .option('docker-tag', { type: 'string', describe: 'Deploy this tag instead of the one built (sanitized like a branch name)' });
}

/** `--only` and `--skip` name stages: without one they would select nothing and run everything. */
function checkStageOptions(args: { only?: string[]; skip?: string[] }): true {
  for (const option of ['only', 'skip'] as const) {
    if (args[option]?.length === 0) throw new ConfigError(`--${option} needs at least one stage: ${STAGE_NAMES.join(', ')}`);
  }
  return true;
}

/**
 * `--version` and the top-level `--help` (also `pipeline` alone and `pipeline help`,
 * which normalizeArgv makes `--help`) are answered without loading yargs (about
 * 120 ms): the version from package.json, the help as yargs printed it at build time.
 */
function answeredWithoutParser(argv: string[]): boolean {
  if (argv.length !== 1 || process.env.PIPELINE_FULL_PARSER) return false;
  const read = (path: string) => {
    try {
      return readFileSync(new URL(path, import.meta.url), 'utf8');
    } catch {
      return undefined;
    }
  };
  const text =
    argv[0] === '--version' || argv[0] === '-v'
      ? `${JSON.parse(read('../../package.json') ?? '{}').version}\n`
      : argv[0] === '--help' || argv[0] === '-h'
        ? read('./help.txt')
        : undefined;
  if (text === undefined) return false;
  process.stdout.write(text);
  return true;
}

async function main(given: string[]): Promise<number> {
  const argv = normalizeArgv(given);
  if (answeredWithoutParser(argv)) return EXIT.success;
  maskProcessOutput();
  try {
    checkCommand(argv);
    return await parse(argv);
  } catch (error) {
    const code = report(error);
    // With --json the last stdout line is a result event, also when no run started (bad usage, invalid configuration).
    if (argv.includes('--json'))
      (await import('../runner/json.js')).writeResult(resultEvent(undefined, { exitCode: code, error }, detectCi(process.env)));
    return code;
  }
}

/** Parses the arguments and runs the command they name; its exit code. */
async function parse(argv: string[]): Promise<number> {
  const { default: yargs } = await import('yargs');
  let exitCode: number = EXIT.success;
  const base = yargs(argv)
    .scriptName('pipeline')
    .usage(
      '$0 <command> [options]\n\nRuns the whole CI/CD pipeline — checkout, build, test, push, resolve, deploy — on a laptop or as one CI step.',
    );
  const done: Done = (code) => {
    exitCode = code;
  };
  const parser = otherCommands(operatorCommands(deployCommands(base, done), done), done)
    .completion('completion', 'Print a shell completion script (add to ~/.bashrc: pipeline completion >> ~/.bashrc)')
    .demandCommand(1, `name a command: ${COMMANDS.join(', ')}`)
    .epilogue('pipeline help COMMAND (or pipeline COMMAND --help) shows what a command takes.')
    .strict()
    .help()
    .alias('h', 'help')
    .version()
    .alias('v', 'version')
    // A fixed width, so the help pre-rendered at build time is the same everywhere.
    .wrap(100)
    .fail((message, error) => {
      throw error ?? new ConfigError(message.replace(/\s*\n\s*/g, ' '));
    });
  await parser.parseAsync();
  return exitCode;
}

type Done = (exitCode: number) => void;
const commands = () => import('./commands.js');

/** The commands that deploy: run, deploy, rollback. */
function deployCommands(parser: Argv, done: Done): Argv {
  return parser
    .command(
      'run',
      'Run the pipeline: checkout, build, test, push, resolve, deploy',
      (args) =>
        lockOptions(revisionOptions(outputOptions(common(args))))
          .option('only', {
            type: 'array',
            string: true,
            choices: STAGE_NAMES,
            describe: 'Run only these stages (checkout and resolve always run)',
          })
          .option('skip', { type: 'array', string: true, choices: STAGE_NAMES, describe: 'Skip these stages' })
          .option('skip-release', { type: 'boolean', describe: 'Deploy without running the release command (config release)' })
          .check(checkStageOptions)
          .example('$0 run', 'Build, test and push this branch, then deploy it where it belongs')
          .example('$0 run --only deploy', 'Retry the deploy of this branch without building')
          .example('$0 run --env local', 'Run everything and deploy to the Docker engine on this machine'),
      async (args) => done(await (await commands()).runCommand(args as never)),
    )
    .command(
      'deploy <environment>',
      'Deploy a tag to an environment (fab ENV deploy docker_tag=...)',
      (args) =>
        lockOptions(outputOptions(common(args)))
          .positional('environment', { type: 'string', describe: 'Environment name or alias (stage = qa)' })
          .option('docker-tag', { type: 'string', describe: "Tag to deploy (default: the environment's defaultTag)" })
          .option('skip-release', { type: 'boolean', describe: 'Deploy without running the release command (config release)' })
          .example('$0 deploy qa --docker-tag feature/rotate_collage_products', 'Redeploy another branch to qa'),
      async (args) => done(await (await commands()).deployCommand(args as never)),
    )
    .command(
      'rollback <environment>',
      'Bring back the release that ran before the current one, on every host',
      (args) =>
        lockOptions(outputOptions(common(args)))
          .positional('environment', { type: 'string', describe: 'Environment name or alias' })
          .option('to', { type: 'string', describe: 'Roll back to the kept release deployed with this tag' })
          .example('$0 rollback production', 'Undo the last production deploy (again to go further back)')
          .example('$0 rollback qa --to develop', 'Bring back the kept qa release tagged develop'),
      async (args) => done(await (await import('./rollback.js')).rollbackCommand(args as never)),
    );
}

/** The commands that look at or act on what runs: status, lock, logs, exec. */
function operatorCommands(parser: Argv, done: Done): Argv {
  return parser
    .command(
      'status <environment>',
      'Show what runs on every host of an environment: tag, digest, commit, health, who deployed it',
      (args) =>
        common(args)
          .positional('environment', { type: 'string', describe: 'Environment name or alias' })
          .example('$0 status production', 'What runs in production, and is it healthy'),
      async (args) => done(await (await import('./status.js')).statusCommand(args as never)),
    )
    .command(
      'lock <action> <environment>',
      "Show or release an environment's deploy lock on its hosts",
      (args) =>
        common(args)
          .positional('action', { choices: ['status', 'release'], describe: "status: who holds it; release: free a dead deploy's lock" })
          .positional('environment', { type: 'string', describe: 'Environment name or alias' })
          .example('$0 lock status qa', 'Who is deploying to qa right now')
          .example('$0 lock release qa', 'Free the qa lock left by a deploy that died'),
      async (args) => done(await (await import('./lock.js')).lockCommand(args as never)),
    )
    .command(
      'logs <environment> [service]',
      'Show the container logs of a service (or every service) on each of its hosts, merged in time order',
      (args) =>
        common(args)
          .positional('environment', { type: 'string', describe: 'Environment name or alias' })
          .positional('service', { type: 'string', describe: 'Service (default: every service)' })
          .option('host', { type: 'string', describe: 'Only this host (as in the config, or its name)' })
          .option('since', { type: 'string', describe: 'Lines since a duration ago (10m, 2h) or a time (2026-05-01T12:00:00Z)' })
          .option('tail', { type: 'number', describe: 'The last N lines of each container' })
          .option('follow', { alias: 'f', type: 'boolean', describe: 'Go on printing lines as they come (Ctrl-C stops)' })
          .option('timestamps', { alias: 't', type: 'boolean', describe: "Show the Engine's timestamp of each line" })
          .example('$0 logs qa worker --since 10m', "The last ten minutes of qa's worker, every host")
          .example('$0 logs production web --tail 50 --follow', 'Follow production web on every host'),
      async (args) => done(await (await import('./logs.js')).logsCommand(args as never)),
    )
    .command(
      'exec <environment> <service> [command..]',
      'Run a command in the running container of a service on each of its hosts (after --)',
      (args) =>
        common(args)
          .positional('environment', { type: 'string', describe: 'Environment name or alias' })
          .positional('service', { type: 'string', describe: 'Service to run the command in' })
          .positional('command', { type: 'string', array: true, describe: 'The command and its arguments, after --' })
          .option('host', { type: 'string', describe: 'Only on this host (as in the config, or its name)' })
          .option('new', {
            type: 'boolean',
            describe: 'In a new one-off container of the current release (removed after) instead of the running one',
          })
          .example('$0 exec qa web -- node --version', 'On every qa web host')
          .example('$0 exec production web --host prod-web-1 --new -- npm run console', 'An interactive console in a new container'),
      // What follows `--` is the command's, and yargs leaves it in `_`, after the command's own name.
      async (args) =>
        done(
          await (await import('./exec.js')).execCommand({
            ...args,
            command: [...(args.command ?? []), ...args._.slice(1).map(String)],
          } as never),
        ),
    );
}

/** plan, config and promote. */
function otherCommands(parser: Argv, done: Done): Argv {
  return parser
    .command(
      'plan',
      'Show what a run would deploy where and what it would change on each host, without side effects',
      (args) =>
        revisionOptions(common(args))
          .option('offline', { type: 'boolean', describe: 'Do not connect to hosts: only the commit, tag, environments and services' })
          .example('$0 plan', 'What this branch would deploy, host by host')
          .example('$0 plan --env qa --docker-tag feature/x', 'What redeploying feature/x to qa would change'),
      async (args) => done(await (await import('./plan.js')).planCommand(args as never)),
    )
    .command(
      'config',
      'Print the resolved configuration as JSON, secrets redacted',
      (args) =>
        common(args)
          .option('json', { type: 'boolean', describe: 'Print only the JSON (without it, the file it came from is named on stderr)' })
          .example('$0 config --json | jq .environments', 'The environments, defaults filled in'),
      async (args) => done(await (await commands()).configCommand(args as never)),
    )
    .command(
      'promote <tag>',
      'Move a tag an environment deploys on (uat) to a commit and push it, so CI deploys that commit',
      (args) =>
        args
          .positional('tag', { type: 'string', describe: "The tag to move, e.g. uat (an environment's on.tags)" })
          .option('ref', { type: 'string', default: 'HEAD', describe: 'Commit, branch or tag to promote' })
          .option('remote', { type: 'string', default: 'origin', describe: 'Remote to push the tag to' })
          .option('force', { type: 'boolean', default: false, describe: 'Promote even when tracked files have uncommitted changes' })
          .option('cwd', {
            type: 'string',
            default: process.cwd(),
            defaultDescription: 'current folder',
            describe: 'Folder inside the git repository',
          })
          .example('$0 promote uat', 'Deploy this commit to uat (replaces git tag -a uat && git push --tags, which fail once uat exists)')
          .example('$0 promote uat --ref develop', 'Deploy the tip of develop to uat'),
      async (args) => done(await (await import('./promote.js')).promoteCommand(args as never)),
    );
}

function report(error: unknown): number {
  if (error instanceof PipelineError) {
    process.stderr.write(`pipeline: ${error.message}\n`);
    return exitCodeFor(error);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`pipeline: ${message}\n`);
  if (process.env.PIPELINE_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  return EXIT.failure;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // A leftover socket or timer must not keep a finished run alive.
  setTimeout(() => process.exit(code), 2000).unref();
});
