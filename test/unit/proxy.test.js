import test from 'ava';
import { validateConfig } from '../../dist/config/schema.js';
import { planDeploy } from '../../dist/core/plan.js';
import {
  caddyConfig,
  configEtag,
  cutoverNote,
  describeRoute,
  drainingOf,
  planProxy,
  routesOf,
  servicePorts,
  serviceRoutes,
  startsFirst,
  withServiceRoutes,
} from '../../dist/core/proxy.js';
import { documentedConfig } from '../fixtures/configs.js';

const web = { service: 'web', ports: ['8080:8000', '8443:8001/tcp'], proxy: true };
const route = (port, project, service, upstream) => ({ port, project, service, upstream });

test('serviceRoutes: each HOST:CONTAINER port goes to that container port of the upstream', (t) => {
  t.deepEqual(serviceRoutes('shop', web, 'abc123def456'), [
    route(8080, 'shop', 'web', 'abc123def456:8000'),
    route(8443, 'shop', 'web', 'abc123def456:8001'),
  ]);
  t.deepEqual(servicePorts(web), [8080, 8443]);
});

test('caddyConfig: one server per host port, reverse-proxying to its upstream, drained for the drain timeout', (t) => {
  const config = caddyConfig([route(9090, 'other', 'api', 'f00:3000'), route(8080, 'shop', 'web', 'abc:8000')], 30_000);
  t.deepEqual(config.admin, { listen: 'localhost:2019' }, 'the admin API stays inside the proxy container');
  t.is(config.apps.http.grace_period, '30000ms');
  t.deepEqual(Object.keys(config.apps.http.servers), ['shop/web/8080', 'other/api/9090'], 'in port order');
  const server = config.apps.http.servers['shop/web/8080'];
  t.deepEqual(server.listen, [':8080']);
  t.deepEqual(server.automatic_https, { disable: true });
  t.is(server.routes[0].handle[0].handler, 'reverse_proxy');
  t.deepEqual(server.routes[0].handle[0].upstreams, [{ dial: 'abc:8000' }]);
});

test('caddyConfig keeps an upstream being drained behind a route that matches nothing, so Caddy counts its requests', (t) => {
  const config = caddyConfig([route(8080, 'shop', 'web', 'new:8000'), route(9090, 'other', 'api', 'f00:3000')], 30_000, [
    route(8080, 'shop', 'web', 'old:8000'),
  ]);
  const [live, draining] = config.apps.http.servers['shop/web/8080'].routes;
  t.deepEqual(live.handle[0].upstreams, [{ dial: 'new:8000' }]);
  t.is(live.match, undefined);
  t.deepEqual(draining.match, [{ expression: 'false' }]);
  t.deepEqual(draining.handle[0].upstreams, [{ dial: 'old:8000' }]);
  t.is(config.apps.http.servers['other/api/9090'].routes.length, 1, 'other ports are not touched');
  t.deepEqual(routesOf(config).find((r) => r.port === 8080).upstream, 'new:8000', 'the live route is the one read back');
});

test('routesOf reads back what caddyConfig made, and nothing else', (t) => {
  const routes = [route(8080, 'shop', 'web', 'abc:8000'), route(9090, 'other', 'api', 'f00:3000')];
  const config = caddyConfig(routes, 5_000);
  config.apps.http.servers.handmade = { listen: [':80'], routes: [] };
  t.deepEqual(
    routesOf(config).sort((a, b) => a.port - b.port),
    routes,
  );
  t.deepEqual(routesOf(null), [], 'a proxy with no configuration yet');
  t.deepEqual(routesOf({ admin: {} }), []);
});

const current = [route(8080, 'shop', 'web', 'old:8000'), route(9090, 'other', 'api', 'f00:3000')];
const switches = [
  [
    "a new upstream replaces the service's own",
    [route(8080, 'shop', 'web', 'new:8000')],
    { routes: [route(9090, 'other', 'api', 'f00:3000'), route(8080, 'shop', 'web', 'new:8000')] },
  ],
  ['no routes: the service is no longer served, others stay', [], { routes: [route(9090, 'other', 'api', 'f00:3000')] }],
  [
    "another project's port is a conflict and changes nothing",
    [route(9090, 'shop', 'web', 'new:8000')],
    { routes: current, conflict: route(9090, 'other', 'api', 'f00:3000') },
  ],
];
for (const [name, next, expected] of switches) {
  test(`withServiceRoutes: ${name}`, (t) => {
    t.deepEqual(withServiceRoutes(current, 'shop', 'web', next), expected);
  });
}

test('describeRoute', (t) => {
  t.is(describeRoute(route(8080, 'shop', 'web', 'a:1')), ':8080 → shop web');
});

const firsts = [
  ['a proxied service', { proxy: true, ports: ['8080:8000'] }, true],
  ['a worker with no ports', { proxy: false, ports: [] }, true],
  ['a container port only (an ephemeral host port)', { proxy: false, ports: ['8000'] }, true],
  ['a fixed host port it publishes itself', { proxy: false, ports: ['8080:8000'] }, false],
  ['a fixed udp host port', { proxy: false, ports: ['5353:53/udp'] }, false],
];
for (const [name, svc, expected] of firsts) {
  test(`startsFirst: ${name}`, (t) => {
    t.is(startsFirst(svc), expected);
  });
}

test("cutoverNote says how plan's replace is cut over", (t) => {
  t.is(cutoverNote(web), 'start beside the old one, switch the proxy (:8080, :8443) once healthy, drain, stop the old one');
  t.is(cutoverNote({ proxy: false, ports: [] }), 'start before the old one stops, stop it once healthy');
  t.is(cutoverNote({ proxy: false, ports: ['8080:8000'] }), undefined);
});

const proxies = [
  ['no proxy yet: started on the ports', undefined, 'caddy:2', [9090, 8080], { action: 'start', ports: [8080, 9090] }],
  [
    'the same image and ports: left running',
    { image: 'caddy:2', running: true, ports: [8080, 9090] },
    'caddy:2',
    [8080],
    { action: 'leave', ports: [8080, 9090] },
  ],
  [
    'a new port: restarted to listen on it too',
    { image: 'caddy:2', running: true, ports: [9090] },
    'caddy:2',
    [8080],
    { action: 'listen', ports: [8080, 9090] },
  ],
  [
    'another image: replaced, keeping every port',
    { image: 'caddy:2.6', running: true, ports: [9090] },
    'caddy:2',
    [8080],
    { action: 'replace', ports: [8080, 9090] },
  ],
];
for (const [name, observed, image, ports, expected] of proxies) {
  test(`planProxy: ${name}`, (t) => {
    t.deepEqual(planProxy(observed, image, ports), expected);
  });
}

test('planDeploy carries proxy: true and the proxy settings; the container spec publishes nothing for it', async (t) => {
  const raw = documentedConfig();
  raw.services.web.proxy = true;
  raw.proxy = { image: 'registry.example.com/caddy:2', drainTimeout: '5s' };
  const plan = planDeploy(validateConfig(raw), 'qa');
  t.deepEqual(plan.proxy, { image: 'registry.example.com/caddy:2', drainTimeoutMs: 5_000 });
  const svc = plan.hosts[0].services.find((s) => s.service === 'web');
  t.true(svc.proxy);
  const { containerSpec } = await import('../../dist/adapters/service.js');
  const spec = containerSpec(svc, 'img:tag', {}, {});
  t.is(spec.HostConfig.NetworkMode, 'pipeline');
  t.is(spec.HostConfig.PortBindings, undefined);
  t.deepEqual(spec.ExposedPorts, { '8000/tcp': {} });
  t.false(plan.hosts[0].services.find((s) => s.service === 'logstash').proxy);
});

test('drainingOf reads back the upstreams kept counted behind a route that matches nothing, of every service', (t) => {
  const config = caddyConfig([route(8080, 'shop', 'web', 'new:8000'), route(9090, 'other', 'api', 'f00:3000')], 30_000, [
    route(8080, 'shop', 'web', 'old:8000'),
    route(9090, 'other', 'api', 'e00:3000'),
  ]);
  t.deepEqual(
    drainingOf(config).sort((a, b) => a.port - b.port),
    [route(8080, 'shop', 'web', 'old:8000'), route(9090, 'other', 'api', 'e00:3000')],
  );
  t.deepEqual(drainingOf(caddyConfig([route(8080, 'shop', 'web', 'new:8000')], 30_000)), []);
  t.deepEqual(drainingOf(null), []);
});

test('configEtag is the ETag Caddy 2.6 computes for GET /config/ (FNV-1a 32 of the body, 8 hex digits)', (t) => {
  // Bodies and ETags as Caddy 2.6.2 answered them.
  const body = (text) => new TextEncoder().encode(`${text}\n`);
  t.is(
    configEtag(
      body(
        '{"admin":{"listen":"localhost:2019"},"apps":{"http":{"servers":{"a":{"listen":[":18555"],"routes":[{"handle":[{"body":"a","handler":"static_response"}]}]}}}}}',
      ),
    ),
    '"/config/ 44ae505d"',
  );
  t.is(
    configEtag(
      body(
        '{"admin":{"listen":"localhost:2019"},"apps":{"http":{"servers":{"a":{"listen":[":18555"],"routes":[{"handle":[{"body":"b","handler":"static_response"}]}]}}}}}',
      ),
    ),
    '"/config/ 45b2cbaa"',
  );
  t.is(configEtag(new Uint8Array()), '"/config/ 811c9dc5"');
});
