import { ConfigError } from '../errors.js';
import { configPath, loadConfig, type LoadedConfig } from '../config/load.js';
import type { PipelineConfig } from '../config/schema.js';
import { localDocker } from '../adapters/docker.js';
import { localConnection } from '../adapters/local.js';
import { detectCi } from '../core/ci.js';
import { createMasker, MASK } from '../core/mask.js';
import { secretNames } from '../core/plan.js';
import { deployTagFor, findEnvironment } from '../core/resolve.js';
import type { HostAddress } from '../core/hosts.js';
import { runStages } from '../runner/index.js';
import { checkStageSelection, createRunContext, STAGES, type Deps, type RunContext, type StageName } from '../runner/context.js';
import { chooseRenderer, type RendererName } from '../runner/renderer.js';
import { currentMasker, setMasker } from './output.js';

export interface CommonArgs { config?: string; cwd: string; renderer?: RendererName }
export interface RevisionArgs extends CommonArgs { branch?: string; ref?: string; env?: string; dockerTag?: string }
interface RunArgs extends RevisionArgs { only?: StageName[]; skip?: StageName[] }
interface DeployArgs extends CommonArgs { environment: string; dockerTag?: string }

/** `pipeline run`: every stage, or those --only/--skip select. */
export async function runCommand(args: RunArgs): Promise<number> {
  const loaded = await load(args);
  const options = { cwd: args.cwd, only: args.only ?? [], skip: args.skip ?? [], branch: args.branch, ref: args.ref, env: args.env, dockerTag: args.dockerTag };
  checkStageSelection(options);
  if (options.env !== undefined) findEnvironment(loaded.config, options.env);
  checkSecrets(loaded.config);
  const ctx = createRunContext(loaded, options, detectCi(process.env));
  return runWithSignals(STAGES, ctx, loaded, args.renderer);
}

/** `pipeline deploy ENV [--docker-tag TAG]`: the documented `fab ENV deploy docker_tag=...`. */
export async function deployCommand(args: DeployArgs): Promise<number> {
  const loaded = await load(args);
  const environment = findEnvironment(loaded.config, args.environment);
  deployTagFor(loaded.config, environment, args.dockerTag);
  checkSecrets(loaded.config);
  const ctx = createRunContext(loaded, { cwd: args.cwd, only: [], skip: [], env: environment, dockerTag: args.dockerTag }, detectCi(process.env));
  return runWithSignals(['resolve', 'deploy'], ctx, loaded, args.renderer);
}

/** `pipeline config`: the configuration as the pipeline sees it, secrets redacted. */
export async function configCommand(args: CommonArgs): Promise<number> {
  const { config, filepath } = await load(args);
  const redacted = {
    ...config,
    registry: config.registry && { ...config.registry, password: config.registry.password && MASK },
    ssh: { ...config.ssh, passphrase: config.ssh.passphrase && MASK },
  };
  process.stdout.write(`# ${filepath}\n${JSON.stringify(redacted, null, 2)}\n`);
  return 0;
}

export async function load(args: CommonArgs): Promise<LoadedConfig> {
  const loaded = await loadConfig({ cwd: args.cwd, file: args.config });
  setMasker(createMasker(secretValues(loaded.config)));
  return loaded;
}

/** Every value that must never be printed: passwords, passphrases and the configured secret variables. */
function secretValues(config: PipelineConfig): (string | undefined)[] {
  return [config.registry?.password, config.ssh.passphrase, ...secretNames(config).map((name) => process.env[name])];
}

/** Secrets are read from the runner's environment: a missing one stops the run before anything starts. */
function checkSecrets(config: PipelineConfig): void {
  const missing = secretNames(config).filter((name) => !process.env[name]);
  if (missing.length > 0) throw new ConfigError(`secret${missing.length > 1 ? 's' : ''} not set in the environment: ${missing.join(', ')}`);
}

/** Runs stages, turning SIGINT/SIGTERM into a clean stop: stages see the abort, clean up, and the exit code says which signal. */
export async function runWithSignals(stages: readonly StageName[], ctx: RunContext, loaded: LoadedConfig, requested?: RendererName): Promise<number> {
  const controller = new AbortController();
  let signalExit: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalExit !== undefined) return;
    signalExit = signal === 'SIGINT' ? 130 : 143;
    process.stderr.write(`\npipeline: ${signal} received, stopping and cleaning up\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const renderer = chooseRenderer({ requested, isTTY: Boolean(process.stdout.isTTY), ci: Boolean(ctx.ci.provider) });
  try {
    await runStages(stages, ctx, createDeps(loaded, controller.signal), renderer);
  } catch (error) {
    if (signalExit !== undefined) return signalExit;
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (signalExit !== undefined) return signalExit;
  process.stdout.write(summary(ctx));
  return 0;
}

export function createDeps(loaded: LoadedConfig, signal: AbortSignal): Deps {
  let docker: ReturnType<typeof localDocker> | undefined;
  const { ssh } = loaded.config;
  return {
    env: process.env,
    signal,
    cleanups: new Set(),
    mask: currentMasker(),
    docker: () => (docker ??= localDocker()),
    async connect(address: HostAddress) {
      if (address.kind === 'local') return localConnection(await (docker ??= localDocker()));
      const { connectHost } = await import('../adapters/ssh.js');
      return connectHost({ host: address.host, port: address.port, user: address.user }, {
        identityFile: ssh.identityFile && configPath(loaded.dir, ssh.identityFile),
        passphrase: ssh.passphrase,
        knownHosts: configPath(loaded.dir, ssh.knownHosts),
      });
    },
  };
}

/** What was deployed where, and the addresses to open. */
function summary(ctx: RunContext): string {
  const lines: string[] = [];
  for (const deployment of ctx.deployments) {
    for (const svc of deployment.services) {
      lines.push(`${deployment.environment.padEnd(12)} ${deployment.host.padEnd(24)} ${svc.service.padEnd(12)} ${svc.action.padEnd(13)} ${svc.image}`);
    }
  }
  for (const { service, host, url } of ctx.urls) lines.push(`${service} on ${host}: ${url}`);
  return lines.length ? `${lines.join('\n')}\n` : '';
}
