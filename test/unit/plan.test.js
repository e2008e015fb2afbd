import test from 'ava';
import { validateConfig } from '../../dist/config/schema.js';
import { planDeploy, publishedPort, releaseLabels, runsRelease, serviceImage } from '../../dist/core/plan.js';
import { newRelease } from '../../dist/core/release.js';
import { documentedConfig } from '../fixtures/configs.js';

const config = validateConfig(documentedConfig());

const summary = (plan) => plan.hosts.map((host) => [host.address.id, host.roles, host.services.map((svc) => svc.service)]);

test('qa: web host runs web and logstash, worker host runs worker and logstash', (t) => {
  const plan = planDeploy(config, 'qa');
  t.deepEqual(summary(plan), [
    ['deploy@qa-web-1.example.com', ['web'], ['web', 'logstash']],
    ['deploy@qa-worker-1.example.com', ['worker'], ['worker', 'logstash']],
  ]);
});

test('a host with both roles runs each service once', (t) => {
  const plan = planDeploy(config, 'uat');
  t.deepEqual(summary(plan), [['deploy@uat-1', ['web', 'worker'], ['web', 'worker', 'logstash']]]);
});

test('services get the pipeline image at the tag, env merged, labels naming the release', (t) => {
  const plan = planDeploy(config, 'qa');
  const release = newRelease(config.image, 'featurex', { commit: 'abc123' });
  const worker = plan.hosts[1].services[0];
  t.is(worker.container, 'shopping-tool-worker');
  t.is(serviceImage(worker, release), 'registry.example.com/allume/shopping-tool:featurex');
  t.true(runsRelease(worker));
  t.deepEqual(worker.env, { APP_ENV: 'qa', QUEUE: 'default' });
  t.deepEqual(releaseLabels(worker, release), {
    'pipeline.project': 'shopping-tool',
    'pipeline.service': 'worker',
    'pipeline.environment': 'qa',
    'pipeline.tag': 'featurex',
    'pipeline.commit': 'abc123',
  });
  const logstash = plan.hosts[1].services[1];
  t.is(serviceImage(logstash, release), 'docker.elastic.co/logstash/logstash:7.17.0');
  t.false(runsRelease(logstash));
  t.is(releaseLabels(logstash, release)['pipeline.tag'], '7.17.0');
  t.false(logstash.redeploy);
});

test('host defaults come from ssh settings; explicit user and port win', (t) => {
  const plan = planDeploy(config, 'production');
  t.deepEqual(
    plan.hosts.map((host) => host.address.id),
    ['deploy@prod-web-1:2222', 'deploy@prod-worker-1'],
  );
});

test('durations are planned in milliseconds', (t) => {
  const [web] = planDeploy(config, 'qa').hosts[0].services;
  t.is(web.stopGraceMs, 10_000);
  t.is(web.startPeriodMs, 1_000);
});

test('publishedPort finds the host side of a mapping', (t) => {
  t.is(publishedPort(['8080:8000', '9000:9000/udp'], 8000), 8080);
  t.is(publishedPort(['9000:9000/udp'], 9000), 9000);
  t.is(publishedPort(['8000'], 8000), undefined);
});
