// The reference configuration: every field, with its default where it has one.
// It builds and deploys the example app; `pipeline run --env local` here runs it on this machine's Docker.
import { defineConfig } from '@allume/pipeline';

export default defineConfig({
  // Containers are named `${project}-${service}` on hosts and labelled with it.
  project: 'shopping-tool',
  // The image the pipeline builds and pushes, without a tag: it pushes `:<branch tag>` and `:<commit sha>`.
  image: 'registry.example.com/allume/shopping-tool',
  // Omit `registry` and the push stage is skipped. The password is masked in all output.
  registry: process.env.REGISTRY_PASSWORD
    ? { server: 'registry.example.com', username: 'ci', password: process.env.REGISTRY_PASSWORD }
    : undefined,
  // Build args; the example's Dockerfile takes its base image (default node:24-slim) from BASE_IMAGE.
  build: {
    context: 'examples/shopping-tool',
    dockerfile: 'Dockerfile',
    args: { RELEASE: process.env.CIRCLE_BUILD_NUM ?? 'dev', ...(process.env.BASE_IMAGE ? { BASE_IMAGE: process.env.BASE_IMAGE } : {}) },
    // The branch's and the environments' images in the registry give the build their layers (pulled when missing).
    cache: true,
  },
  test: { command: ['node', '--test'], env: { CI: 'true' } },
  ssh: { user: 'deploy', port: 22, identityFile: '~/.ssh/id_ed25519', knownHosts: '~/.ssh/known_hosts' },
  // Hosts deployed at once.
  parallel: 10,
  // The proxy every host with a `proxy: true` service runs in front of it (any Caddy 2 image), and how long an old
  // container's requests get to finish once the proxy has switched to the new one.
  proxy: { image: 'caddy:2', drainTimeout: '30s' },
  // Hosts switched at a time (a count or '25%'), each batch healthy before the next; without it, all at once.
  rollout: { batch: '100%' },
  environments: {
    qa: {
      aliases: ['stage'],
      on: { branches: ['develop'] },
      defaultTag: 'develop',
      hosts: { web: ['qa-web-1.example.com'], worker: ['qa-worker-1.example.com'] },
      env: { APP_ENV: 'qa' },
      secrets: [],
    },
    production: {
      on: { branches: ['master'] },
      defaultTag: 'master',
      hosts: { web: ['deploy@prod-web-1:2222'], worker: ['prod-worker-1'] },
      env: { APP_ENV: 'production' },
    },
    uat: { on: { tags: ['uat'] }, defaultTag: 'develop', hosts: { web: ['uat-1'], worker: ['uat-1'] }, env: { APP_ENV: 'uat' } },
    // A Docker Swarm instead of a fleet (docs/swarm.md): nodes labelled role=web / role=worker run the services.
    cluster: {
      on: { branches: ['release/*'] },
      defaultTag: 'master',
      swarm: { manager: 'deploy@swarm-manager-1:22', publish: 'ingress', pullWithoutAuth: false },
      env: { APP_ENV: 'cluster' },
    },
  },
  // Once per environment deploy, after every host pulled the release and before any is switched, in a new container
  // of the release as `service` runs (e.g. ['npm', 'run', 'migrate']); a failure switches nothing.
  release: { command: ['node', '-e', "console.log('migrations: none to run')"], service: 'web', timeout: '10m' },
  services: {
    web: {
      roles: ['web'],
      command: ['node', 'server.js'],
      ports: ['8080:8000'],
      healthcheck: { http: { path: '/health', port: 8000 }, interval: '1s', timeout: '2s', retries: 15, startPeriod: '0s' },
      stopGracePeriod: '10s',
      // true: served by the host's proxy on 8080 and deployed with zero downtime; the container publishes nothing.
      proxy: false,
      // Tasks in a swarm environment; a fleet runs one container per host.
      replicas: 2,
      // Container options, with Compose's names: `data` is the volume shopping-tool_data, kept across releases.
      volumes: ['data:/app/data'],
      labels: { team: 'shopping' },
      extraHosts: [],
      logging: { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } },
      // No default: memory: '512m', cpus: 1, user: 'node'.
    },
    worker: { roles: ['worker'], command: ['node', 'worker.js'], env: { QUEUE: 'default' }, startPeriod: '1s', replicas: 3 },
    // Started only when no logstash container is running; never redeployed.
    logstash: {
      roles: ['web', 'worker'],
      image: process.env.LOGSTASH_IMAGE || 'docker.elastic.co/logstash/logstash:8.19.19',
      redeploy: false,
    },
  },
});
