import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { environmentSsh, LOCAL_HOST, parseHost } from '../core/hosts.js';
import { ConfigError } from '../errors.js';
import { containerOptionFields } from './container-schema.js';

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const NAME_RULE = 'must be letters, digits, "_", "." or "-", starting with a letter or digit';
const name = z.string().regex(NAME_RE, NAME_RULE);
const stringMap = z.record(z.string(), z.string());
const argv = z.array(z.string()).min(1, 'must name a program');
/** A duration as written (`'500ms'`, `'10s'`, `'2m'`, `'1h'`), in milliseconds once validated. */
const duration = z
  .string()
  .refine((text) => parseDuration(text) !== undefined, 'must be a duration such as "500ms", "10s" or "2m"')
  .transform((text) => parseDuration(text)!);
/** The shortest lease: a renewal (one SSH command) must fit in a third of it, with time to retry. */
const MIN_LOCK_TTL_MS = 10_000;
const variableName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name (letters, digits and "_", not starting with a digit)');
/**
 * Secrets: variable names read from the runner's environment (`['DB_PASSWORD']`), or the name the container sees
 * mapped to the runner variable that holds its value (`{ DATABASE_URL: 'PROD_DATABASE_URL' }`): one CI context can
 * then hold each environment's value. Either way, validated as that mapping.
 */
const secretList = z.array(variableName).superRefine((names, ctx) => {
  names.forEach((name, index) => {
    if (names.indexOf(name) < index) ctx.addIssue({ code: 'custom', path: [index], message: `"${name}" is listed twice` });
  });
});
const secrets = z
  .union([secretList, z.record(variableName, variableName)])
  .transform((value): Record<string, string> => (Array.isArray(value) ? Object.fromEntries(value.map((name) => [name, name])) : value))
  .default({});

/** A record keyed by names; a bad key is reported beside its value's problems rather than instead of them. */
function namedRecord<T extends z.ZodType>(value: T) {
  return z.record(z.string(), value).superRefine((record, ctx) => {
    for (const key of Object.keys(record)) {
      if (!NAME_RE.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: `not a valid name: ${NAME_RULE}` });
    }
  });
}

/** A deploy host as `parseHost` reads it; the defaults cannot make a host invalid, so any will do here. */
const host = z
  .string()
  .min(1)
  .superRefine((spec, ctx) => {
    try {
      parseHost(spec, { user: 'deploy', port: 22 });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      ctx.addIssue({ code: 'custom', message: error.message });
    }
  });

const PORT_RE = /^(?:(?<published>\d+):)?(?<container>\d+)(?:\/(?:tcp|udp))?$/;

/** `HOST:CONTAINER` or `CONTAINER`, optionally `/tcp` or `/udp`, both ports from 1 to 65535. */
const portMapping = z.string().superRefine((entry, ctx) => {
  const groups = PORT_RE.exec(entry)?.groups;
  if (!groups) {
    ctx.addIssue({ code: 'custom', message: 'must be "HOST:CONTAINER" or "CONTAINER", e.g. "8080:8000"' });
    return;
  }
  for (const [side, text] of [
    ['host', groups.published],
    ['container', groups.container],
  ] as const) {
    if (text !== undefined && !(Number(text) >= 1 && Number(text) <= 65535)) {
      ctx.addIssue({ code: 'custom', message: `${side} port ${text} must be from 1 to 65535` });
    }
  }
});

const registry = z.strictObject({
  server: z.string().min(1),
  username: z.string().min(1),
  password: z.string().optional(),
});

const healthcheck = z
  .strictObject({
    http: z.strictObject({ path: z.string().startsWith('/').default('/'), port: z.number().int().min(1).max(65535) }).optional(),
    test: z.array(z.string()).min(2).optional(),
    interval: duration.default(1_000),
    timeout: duration.default(2_000),
    retries: z.number().int().min(1).default(15),
    startPeriod: duration.default(0),
  })
  .refine((check) => (check.http === undefined) !== (check.test === undefined), 'needs exactly one of http or test');

const service = z
  .strictObject({
    roles: z.array(name).min(1, 'a service needs at least one role'),
    image: z.string().min(1).optional(),
    command: argv.optional(),
    ports: z.array(portMapping).default([]),
    env: stringMap.default({}),
    secrets,
    redeploy: z.boolean().default(true),
    healthcheck: healthcheck.optional(),
    startPeriod: duration.default(1_000),
    stopGracePeriod: duration.default(10_000),
    /** Tasks of the service in a swarm environment (1 when not set); a fleet runs one container per host. */
    replicas: z.number().int().min(1).optional(),
    ...containerOptionFields,
    /** Served by the host's proxy on the host side of its ports; its container publishes none. */
    proxy: z.boolean().default(false),
  })
  .superRefine((svc, ctx) => {
    if (!svc.proxy) return;
    const problem = proxiedPortsProblem(svc.ports);
    if (problem) ctx.addIssue({ code: 'custom', path: ['ports'], message: problem });
  });

/** A proxied service's ports are HTTP: each needs a host side for the proxy to listen on. */
function proxiedPortsProblem(ports: readonly string[]): string | undefined {
  if (ports.length === 0) return 'a proxied service needs at least one "HOST:CONTAINER" port for the proxy to serve';
  const bad = ports.find((port) => !/^\d{1,5}:\d{1,5}(?:\/tcp)?$/.test(port));
  return bad === undefined ? undefined : `"${bad}": a proxied service's ports must be "HOST:CONTAINER" over tcp`;
}

const proxy = z.strictObject({
  image: z.string().min(1).default('caddy:2'),
  /** How long the old container's in-flight requests get to finish once the proxy has switched away from it. */
  drainTimeout: duration.default(30_000),
});

const rollout = z.strictObject({
  /** Hosts switched at once: a count, or a percentage of the environment's hosts ("25%"). */
  batch: z.union(
    [
      z.number().int().min(1),
      z.string().regex(/^(?:100|[1-9]\d?)%$/, 'must be a number of hosts or a percentage from 1% to 100%, e.g. 2 or "25%"'),
    ],
    { error: 'must be a number of hosts or a percentage, e.g. 2 or "25%"' },
  ),
});

/** A command run once per environment deploy, after every host pulled the release and before any is switched (migrations). */
const release = z.strictObject({
  command: argv,
  service: name,
  timeout: duration.default(10 * 60_000),
});

/** A Docker Swarm, reached through one of its managers over SSH like any host. */
const swarm = z.strictObject({
  manager: host,
  /** `ingress`: the routing mesh publishes each port on every node; `host`: on the nodes that run a task. */
  publish: z.enum(['ingress', 'host']).default('ingress'),
  /** Registry credentials stay out of the swarm: the release is pulled on every node over SSH before the update. */
  pullWithoutAuth: z.boolean().default(false),
});

/**
 * How hosts are reached, at the top level and per environment (key by key over the top level). Unset, a value comes
 * from the SSH config file (`config`, default `~/.ssh/config`; false: none), then the defaults (deploy, 22, the agent,
 * ~/.ssh/known_hosts).
 */
const sshSettings = z.strictObject({
  user: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  identityFile: z.string().min(1).optional(),
  knownHosts: z.string().min(1).optional(),
  config: z.union([z.string().min(1), z.literal(false)], { error: 'must be the path of an SSH config file, or false for none' }).optional(),
});

const environment = z.strictObject({
  aliases: z.array(name).default([]),
  on: z
    .strictObject({ branches: z.array(z.string().min(1)).default([]), tags: z.array(z.string().min(1)).default([]) })
    .default({ branches: [], tags: [] }),
  defaultTag: z.string().min(1).optional(),
  hosts: namedRecord(z.array(host).min(1, 'a role needs at least one host')).optional(),
  swarm: swarm.optional(),
  env: stringMap.default({}),
  secrets,
  ssh: sshSettings.optional(),
});

export const configSchema = z.strictObject({
  project: name,
  image: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._\-/:]*$/, 'must be a lowercase image name, e.g. "registry.example.com/team/app"')
    .refine((image) => !image.split('/').at(-1)!.includes(':'), 'must not carry a tag: the pipeline chooses it'),
  registry: registry.optional(),
  build: z
    .strictObject({
      context: z.string().default('.'),
      dockerfile: z.string().default('Dockerfile'),
      args: stringMap.default({}),
      cache: z.boolean().default(true), // the registry's images of the branch and environments as build cache
    })
    .default({ context: '.', dockerfile: 'Dockerfile', args: {}, cache: true }),
  test: z
    .strictObject({
      command: argv,
      env: stringMap.default({}),
      reports: z.string().startsWith('/', 'must be an absolute path inside the test container, e.g. "/app/reports/junit.xml"').optional(),
    })
    .optional(),
  ssh: sshSettings.extend({ passphrase: z.string().optional() }).default({}),
  parallel: z.number().int().min(1).default(10),
  keepReleases: z.number().int().min(0).default(3),
  // A lease, renewed every third of it: a deploy that dies blocks the next one for this long at most.
  lockTtl: duration
    .refine((ms) => ms >= MIN_LOCK_TTL_MS, `must be at least ${MIN_LOCK_TTL_MS / 1000}s: the deploy renews it every third of it, over SSH`)
    .default(45_000),
  proxy: proxy.default({ image: 'caddy:2', drainTimeout: 30_000 }),
  rollout: rollout.optional(),
  environments: namedRecord(environment).optional(),
  release: release.optional(),
  services: namedRecord(service).refine((services) => Object.keys(services).length > 0, 'needs at least one service'),
});

/** What a user writes in pipeline.config.ts. */
export type PipelineConfigInput = z.input<typeof configSchema>;
export type EnvironmentConfig = z.output<typeof environment>;
export type ServiceConfig = z.output<typeof service>;
export type HealthcheckConfig = z.output<typeof healthcheck>;
export type ProxyConfig = z.output<typeof proxy>;
export type RolloutConfig = z.output<typeof rollout>;
export type SwarmConfig = z.output<typeof swarm>;
export type ReleaseConfig = z.output<typeof release>;
/** A validated configuration, defaults filled in and the embedded `local` environment added. */
export type PipelineConfig = Omit<z.output<typeof configSchema>, 'environments'> & { environments: Record<string, EnvironmentConfig> };

/** Validate a loaded configuration; every problem is reported with its field path. */
export function validateConfig(raw: unknown, source = 'config'): PipelineConfig {
  const result = configSchema.safeParse(raw);
  const problems = result.success ? crossFieldProblems(result.data) : result.error.issues.map(formatIssue);
  if (!result.success || problems.length > 0) {
    throw new ConfigError(`invalid configuration in ${source}: ${problems.join('; ')}`);
  }
  return withLocalEnvironment(result.data);
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown field`).join('; ');
  return `${path || '(root)'}: ${issue.message.replace(/^Invalid input: /, '')}`;
}

/** `services.web.ports[0]`; a key that is not a plain word is quoted: `environments["eu.prod"]`. */
function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, index) => {
      if (typeof part === 'number') return `[${part}]`;
      const key = String(part);
      if (!/^[A-Za-z0-9_-]+$/.test(key)) return `[${JSON.stringify(key)}]`;
      return index === 0 ? key : `.${key}`;
    })
    .join('');
}

type ValidConfig = z.output<typeof configSchema>;

/** What a field-by-field schema cannot see: names that clash, hosts listed twice, ports two services publish. */
function crossFieldProblems(config: ValidConfig): string[] {
  const environments = config.environments ?? {};
  return [
    ...aliasProblems(environments),
    ...Object.entries(environments).flatMap(([envName, env]) => [
      ...targetProblems(envName, env),
      ...hostProblems(config, envName, env),
      ...portClashes(config, envName, env),
    ]),
    ...Object.entries(config.services).flatMap(([svcName, svc]) => [
      ...listedTwice(['services', svcName, 'roles'], svc.roles),
      ...listedTwice(['services', svcName, 'ports'], svc.ports),
      ...(!svc.redeploy && svc.replicas !== undefined
        ? [`${formatPath(['services', svcName, 'replicas'])}: a redeploy: false service runs once on every node of its roles`]
        : []),
    ]),
    ...releaseProblems(config),
  ];
}

/** The release command runs as its service would: a service of the pipeline's own image, with a host in every fleet. */
function releaseProblems(config: ValidConfig): string[] {
  const { release: command, services } = config;
  if (!command) return [];
  const svc = services[command.service];
  if (!svc) return [`release.service: no service is called "${command.service}"; services: ${Object.keys(services).join(', ')}`];
  if (svc.image !== undefined) return [`release.service: ${command.service} runs its own image (${svc.image}), not the release`];
  // A swarm places services by its nodes' labels: its target says where the command runs.
  return Object.entries(config.environments ?? {})
    .filter(([, env]) => env.hosts && !svc.roles.some((role) => (env.hosts![role]?.length ?? 0) > 0))
    .map(
      ([envName]) =>
        `${formatPath(['environments', envName, 'hosts'])}: no host has a role of ${command.service} (${svc.roles.join(', ')}), where the release command runs`,
    );
}

/** An environment deploys to a fleet (`hosts`) or to a swarm (`swarm`), never both. */
function targetProblems(envName: string, env: EnvironmentConfig): string[] {
  if (env.hosts && env.swarm)
    return [`${formatPath(['environments', envName])}: has both hosts and swarm; an environment deploys to a fleet of hosts or to a swarm`];
  if (!env.hosts && !env.swarm) return [`${formatPath(['environments', envName, 'hosts'])}: required (or swarm: { manager })`];
  return [];
}

/** An alias must name one environment only: not another environment, not the embedded `local`, not twice. */
function aliasProblems(environments: Record<string, EnvironmentConfig>): string[] {
  const problems: string[] = [];
  const owners = new Map<string, string>();
  for (const [envName, env] of Object.entries(environments)) {
    const at = formatPath(['environments', envName, 'aliases']);
    for (const alias of env.aliases) {
      const owner = owners.get(alias);
      if (environments[alias]) problems.push(`${at}: "${alias}" is already the name of environment ${alias}`);
      else if (alias === LOCAL_HOST) problems.push(`${at}: "${alias}" is the name of the embedded local environment`);
      else if (owner === envName) problems.push(`${at}: "${alias}" is listed twice`);
      else if (owner) problems.push(`${at}: "${alias}" is already an alias of environment ${owner}`);
      else owners.set(alias, envName);
    }
  }
  return problems;
}

/** Every role is one a service has; a role lists each host once (`h1` and `deploy@h1:22` are one host). */
function hostProblems(config: ValidConfig, envName: string, env: EnvironmentConfig): string[] {
  if (!env.hosts) return [];
  const hosts = env.hosts;
  const problems: string[] = [];
  const roles = Object.keys(env.hosts);
  if (roles.length === 0) problems.push(`${formatPath(['environments', envName, 'hosts'])}: needs at least one role`);
  for (const role of roles) {
    if (!Object.values(config.services).some((svc) => svc.roles.includes(role))) {
      problems.push(`${formatPath(['environments', envName, 'hosts', role])}: no service has the role "${role}"`);
    }
    const seen = new Map<string, string>();
    hosts[role]!.forEach((spec, index) => {
      const { id } = parseHost(spec, environmentSsh(config.ssh, env.ssh));
      const first = seen.get(id);
      if (first !== undefined)
        problems.push(`${formatPath(['environments', envName, 'hosts', role, index])}: "${spec}" is the same host as "${first}"`);
      else seen.set(id, spec);
    });
  }
  return problems;
}

/** Two services on one host cannot publish the same host port: the second container would not start. */
function portClashes(config: ValidConfig, envName: string, env: EnvironmentConfig): string[] {
  const rolesByHost = new Map<string, Set<string>>();
  for (const [role, specs] of Object.entries(env.hosts ?? {})) {
    for (const spec of specs) {
      const { id } = parseHost(spec, environmentSsh(config.ssh, env.ssh));
      rolesByHost.set(id, (rolesByHost.get(id) ?? new Set()).add(role));
    }
  }
  // A swarm publishes a port for the whole cluster (ingress), or on nodes any service may share (host mode).
  if (env.swarm) rolesByHost.set('the swarm', new Set(Object.values(config.services).flatMap((svc) => svc.roles)));
  const problems = new Set<string>();
  for (const [hostId, roles] of rolesByHost) {
    const publisher = new Map<string, string>();
    for (const [svcName, svc] of Object.entries(config.services)) {
      if (!svc.roles.some((role) => roles.has(role))) continue;
      for (const entry of svc.ports) {
        const groups = PORT_RE.exec(entry)!.groups!;
        if (groups.published === undefined) continue;
        const port = `${Number(groups.published)}/${entry.endsWith('/udp') ? 'udp' : 'tcp'}`;
        const other = publisher.get(port);
        if (other !== undefined && other !== svcName) {
          problems.add(
            `${formatPath(['environments', envName, 'hosts'])}: services ${other} and ${svcName} both publish port ${port} on ${hostId}`,
          );
        }
        publisher.set(port, other ?? svcName);
      }
    }
  }
  return [...problems];
}

function listedTwice(path: PropertyKey[], values: readonly string[]): string[] {
  return values.flatMap((value, index) =>
    values.indexOf(value) < index ? [`${formatPath([...path, index])}: "${value}" is listed twice`] : [],
  );
}

/** The embedded `local` environment: every role on the runner's own engine, for running the whole pipeline on a laptop. */
function withLocalEnvironment(config: z.output<typeof configSchema>): PipelineConfig {
  const roles = [...new Set(Object.values(config.services).flatMap((svc) => svc.roles))];
  const local: EnvironmentConfig = {
    aliases: [],
    on: { branches: config.environments ? [] : ['**'], tags: [] },
    hosts: Object.fromEntries(roles.map((role) => [role, [LOCAL_HOST]])),
    env: {},
    secrets: {},
  };
  return { ...config, environments: { [LOCAL_HOST]: local, ...config.environments } };
}
