// The Allume Shopping Tool's deploy process: develop → qa (stage), master → production,
// a branch tagged `uat` → uat. Registry, hosts and images come from the environment so the
// same file serves CI, a laptop and the project's test world (which has no Docker Hub:
// BASE_IMAGE and LOGSTASH_IMAGE name images it has instead).
const registry = process.env.REGISTRY ?? 'registry.example.com';
const baseImage = process.env.BASE_IMAGE ? { BASE_IMAGE: process.env.BASE_IMAGE } : {};
const hosts = (variable: string, fallback: string[]): string[] => process.env[variable]?.split(/[\s,]+/).filter(Boolean) ?? fallback;

export default {
  project: 'shopping-tool',
  image: `${registry}/allume/shopping-tool`,
  registry: process.env.REGISTRY_PASSWORD
    ? { server: registry, username: process.env.REGISTRY_USER ?? 'ci', password: process.env.REGISTRY_PASSWORD }
    : undefined,
  build: { context: '.', dockerfile: 'Dockerfile', args: { RELEASE: process.env.CIRCLE_BUILD_NUM ?? 'dev', ...baseImage } },
  test: { command: ['node', '--test'], env: { CI: 'true' } },
  ssh: {
    user: process.env.DEPLOY_USER ?? 'deploy',
    identityFile: process.env.DEPLOY_KEY ?? '~/.ssh/id_ed25519',
    knownHosts: process.env.DEPLOY_KNOWN_HOSTS ?? '~/.ssh/known_hosts',
  },
  environments: {
    qa: {
      aliases: ['stage'],
      on: { branches: ['develop'] },
      defaultTag: 'develop',
      hosts: { web: hosts('QA_WEB_HOSTS', ['qa-web-1.example.com']), worker: hosts('QA_WORKER_HOSTS', ['qa-worker-1.example.com']) },
      env: { APP_ENV: 'qa' },
    },
    production: {
      on: { branches: ['master'] },
      defaultTag: 'master',
      hosts: { web: hosts('PRODUCTION_WEB_HOSTS', ['prod-web-1.example.com']), worker: hosts('PRODUCTION_WORKER_HOSTS', ['prod-worker-1.example.com']) },
      env: { APP_ENV: 'production' },
    },
    uat: {
      on: { tags: ['uat'] },
      defaultTag: 'develop',
      hosts: { web: hosts('UAT_HOSTS', ['uat-1.example.com']), worker: hosts('UAT_HOSTS', ['uat-1.example.com']) },
      env: { APP_ENV: 'uat' },
    },
  },
  // The proxy a `proxy: true` service is served by on each of its hosts (zero-downtime deploys; docs/deploy.md).
  proxy: { image: process.env.PROXY_IMAGE || 'caddy:2' },
  services: {
    web: { roles: ['web'], command: ['node', 'server.js'], ports: ['8080:8000'], healthcheck: { http: { path: '/health', port: 8000 } } },
    worker: { roles: ['worker'], command: ['node', 'worker.js'], env: { QUEUE: 'default' } },
    logstash: { roles: ['web', 'worker'], image: process.env.LOGSTASH_IMAGE || 'docker.elastic.co/logstash/logstash:8.19.19', redeploy: false },
  },
};
