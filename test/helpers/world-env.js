// The test world's settings as scripts/world.sh writes them, for the tests and the benchmark alike.
import { readFile } from 'node:fs/promises';

export const WORLD_ENV_FILE = '/var/lib/pipeline-world/world.env';

/** KEY=VALUE lines (values may be double-quoted); a missing world is an error saying how to start it. */
export async function readWorldEnv(upCommand = 'bash scripts/world.sh up') {
  let text;
  try {
    text = await readFile(WORLD_ENV_FILE, 'utf8');
  } catch {
    throw new Error(`the test world is not up (${WORLD_ENV_FILE} missing): run \`${upCommand}\` as root`);
  }
  const vars = Object.fromEntries(
    text
      .split('\n')
      .map((line) => /^([A-Z_0-9]+)=(.*)$/.exec(line.trim()))
      .filter(Boolean)
      .map(([, key, value]) => [key, value.replace(/^"(.*)"$/, '$1')]),
  );
  return {
    vars,
    registry: vars.PIPELINE_WORLD_REGISTRY,
    username: vars.PIPELINE_WORLD_REGISTRY_USER,
    password: vars.PIPELINE_WORLD_REGISTRY_PASSWORD,
    sshUser: vars.PIPELINE_WORLD_SSH_USER,
    sshKey: vars.PIPELINE_WORLD_SSH_KEY,
    knownHosts: vars.PIPELINE_WORLD_KNOWN_HOSTS,
    logstashImage: vars.PIPELINE_WORLD_LOGSTASH_IMAGE,
    caddyImage: vars.PIPELINE_WORLD_CADDY_IMAGE ?? `${vars.PIPELINE_WORLD_REGISTRY}/caddy:2`,
    nodeImage: vars.PIPELINE_WORLD_NODE_IMAGE,
    hosts: vars.PIPELINE_WORLD_HOSTS.split(/\s+/),
  };
}

/**
 * The world hosts (numbers, h1 = 1) a test file runs on: `defaults`, or as many of
 * PIPELINE_TEST_HOSTS (e.g. "6 7 8") to keep off hosts others are testing on.
 */
export function testHostNumbers(defaults, env = process.env) {
  const chosen = (env.PIPELINE_TEST_HOSTS ?? '')
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(Number);
  if (chosen.length === 0) return defaults;
  if (chosen.length < defaults.length || !chosen.every((n) => Number.isInteger(n) && n >= 1)) {
    throw new Error(
      `PIPELINE_TEST_HOSTS must name at least ${defaults.length} host number(s), e.g. "6 7 8" (got "${env.PIPELINE_TEST_HOSTS}")`,
    );
  }
  return chosen.slice(0, defaults.length);
}
