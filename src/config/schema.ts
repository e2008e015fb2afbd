import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { LOCAL_HOST } from '../core/hosts.js';
import { parseDuration } from '../core/duration.js';

const name = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'must be letters, digits, "_", "." or "-"');
const stringMap = z.record(z.string(), z.string());
const argv = z.array(z.string()).min(1, 'must name a program');
/** A duration as written (`'500ms'`, `'10s'`, `'2m'`, `'1h'`), in milliseconds once validated. */
const duration = z.string()
  .refine((text) => parseDuration(text) !== undefined, 'must be a duration such as "500ms", "10s" or "2m"')
  .transform((text) => parseDuration(text)!);
const variableName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

const registry = z.strictObject({
  server: z.string().min(1),
  username: z.string().min(1),
  password: z.string().optional(),
});

const healthcheck = z.strictObject({
  http: z.strictObject({ path: z.string().startsWith('/').default('/'), port: z.number().int().min(1).max(65535) }).optional(),
  test: z.array(z.string()).min(2).optional(),
  interval: duration.default(1_000),
  timeout: duration.default(2_000),
  retries: z.number().int().min(1).default(15),
  startPeriod: duration.default(0),
}).refine((check) => (check.http === undefined) !== (check.test === undefined), 'needs exactly one of http or test');

const service = z.strictObject({
  roles: z.array(name).min(1, 'a service needs at least one role'),
  image: z.string().min(1).optional(),
  command: argv.optional(),
  ports: z.array(z.string().regex(/^(?:\d{1,5}:)?\d{1,5}(?:\/(?:tcp|udp))?$/, 'must be "HOST:CONTAINER" or "CONTAINER", e.g. "8080:8000"')).default([]),
  env: stringMap.default({}),
  secrets: z.array(variableName).default([]),
  redeploy: z.boolean().default(true),
  healthcheck: healthcheck.optional(),
  startPeriod: duration.default(1_000),
  stopGracePeriod: duration.default(10_000),
});

const environment = z.strictObject({
  aliases: z.array(name).default([]),
  on: z.strictObject({ branches: z.array(z.string().min(1)).default([]), tags: z.array(z.string().min(1)).default([]) }).default({ branches: [], tags: [] }),
  defaultTag: z.string().min(1).optional(),
  hosts: z.record(name, z.array(z.string().min(1)).min(1, 'a role needs at least one host')),
  env: stringMap.default({}),
  secrets: z.array(variableName).default([]),
});

export const configSchema = z.strictObject({
  project: name,
  image: z.string().regex(/^[a-z0-9][a-z0-9._\-/:]*$/, 'must be a lowercase image name, e.g. "registry.example.com/team/app"')
    .refine((image) => !image.split('/').at(-1)!.includes(':'), 'must not carry a tag: the pipeline chooses it'),
  registry: registry.optional(),
  build: z.strictObject({
    context: z.string().default('.'),
    dockerfile: z.string().default('Dockerfile'),
    args: stringMap.default({}),
    /** Reuse the layers of the branch's and the environments' images in the registry (pulled when missing). */
    cache: z.boolean().default(true),
  }).default({ context: '.', dockerfile: 'Dockerfile', args: {}, cache: true }),
  test: z.strictObject({
    command: argv,
    env: stringMap.default({}),
    reports: z.string().startsWith('/', 'must be an absolute path inside the test container, e.g. "/app/reports/junit.xml"').optional(),
  }).optional(),
  ssh: z.strictObject({
    user: z.string().min(1).default('deploy'),
    port: z.number().int().min(1).max(65535).default(22),
    identityFile: z.string().optional(),
    passphrase: z.string().optional(),
    knownHosts: z.string().default('~/.ssh/known_hosts'),
  }).default({ user: 'deploy', port: 22, knownHosts: '~/.ssh/known_hosts' }),
  parallel: z.number().int().min(1).default(10),
  keepReleases: z.number().int().min(0).default(3),
  lockTtl: duration.default(15 * 60_000),
  environments: z.record(name, environment).optional(),
  services: z.record(name, service).refine((services) => Object.keys(services).length > 0, 'needs at least one service'),
});

/** What a user writes in pipeline.config.ts. */
export type PipelineConfigInput = z.input<typeof configSchema>;
export type EnvironmentConfig = z.output<typeof environment>;
export type ServiceConfig = z.output<typeof service>;
export type HealthcheckConfig = z.output<typeof healthcheck>;
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

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((part, index) => (typeof part === 'number' ? `[${part}]` : index === 0 ? String(part) : `.${String(part)}`)).join('');
}

function crossFieldProblems(config: z.output<typeof configSchema>): string[] {
  const problems: string[] = [];
  const environments = config.environments ?? {};
  const aliases = new Map<string, string>();
  for (const [envName, env] of Object.entries(environments)) {
    for (const alias of env.aliases) {
      const owner = environments[alias] ? alias : aliases.get(alias);
      if (owner) problems.push(`environments.${envName}.aliases: "${alias}" is already the name of environment ${owner}`);
      aliases.set(alias, envName);
    }
    const roles = Object.keys(env.hosts);
    if (roles.length === 0) problems.push(`environments.${envName}.hosts: needs at least one role`);
    for (const role of roles) {
      if (!Object.values(config.services).some((svc) => svc.roles.includes(role))) {
        problems.push(`environments.${envName}.hosts.${role}: no service has the role "${role}"`);
      }
    }
  }
  return problems;
}

/** The embedded `local` environment: every role on the runner's own engine, for running the whole pipeline on a laptop. */
function withLocalEnvironment(config: z.output<typeof configSchema>): PipelineConfig {
  const roles = [...new Set(Object.values(config.services).flatMap((svc) => svc.roles))];
  const local: EnvironmentConfig = {
    aliases: [],
    on: { branches: config.environments ? [] : ['**'], tags: [] },
    hosts: Object.fromEntries(roles.map((role) => [role, [LOCAL_HOST]])),
    env: {},
    secrets: [],
  };
  return { ...config, environments: { [LOCAL_HOST]: local, ...config.environments } };
}
