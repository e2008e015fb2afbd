// The Docker work of a deploy alone: what the engines and the app must do, with no runner, no SSH, no CLI processes.
// Every host at once, straight to its engine's socket from this process; per host the same steps and waits as the
// pipeline and the hand-written script (pull the tag, check logstash, then web and worker at the same time: stop,
// remove, create, start, and wait: web until GET /health answers, polled every 200 ms; worker still running after 1 s).
// Its time(N)/time(1) is what the machine itself allows, the floor under the runner's figure.
import http from 'node:http';
import { PROJECT, WEB_PORT } from './world.js';

function api(socketPath, method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { socketPath, method, path: `/v1.41${path}`, headers: { ...headers, ...(payload ? { 'content-type': 'application/json' } : {}) } },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode >= 400 && res.statusCode !== 404) reject(new Error(`${method} ${path}: ${res.statusCode} ${text.trim()}`));
          else resolve({ status: res.statusCode, text });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function healthy(address) {
  return new Promise((resolve) => {
    const req = http.get({ host: address, port: WEB_PORT, path: '/health', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode >= 200 && res.statusCode < 300);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

async function running(socket, name) {
  const { status, text } = await api(socket, 'GET', `/containers/${name}/json`);
  return status === 200 && JSON.parse(text).State.Running === true;
}

async function deployHost(world, n, image, tag) {
  const socket = world.socket(n);
  const auth = Buffer.from(JSON.stringify({ username: world.username, password: world.password, serveraddress: world.registry })).toString(
    'base64',
  );
  await api(socket, 'POST', `/images/create?fromImage=${encodeURIComponent(image)}&tag=${encodeURIComponent(tag)}`, undefined, {
    'x-registry-auth': auth,
  });
  if (!(await running(socket, `${PROJECT}-logstash`))) throw new Error(`h${n}: ${PROJECT}-logstash is not running (the warm-up starts it)`);
  await Promise.all(
    ['web', 'worker'].map(async (service) => {
      const name = `${PROJECT}-${service}`;
      await api(socket, 'POST', `/containers/${name}/stop?t=5`);
      await api(socket, 'DELETE', `/containers/${name}?force=1`);
      const web = service === 'web';
      const created = await api(socket, 'POST', `/containers/create?name=${name}`, {
        Image: `${image}:${tag}`,
        Cmd: ['node', web ? 'server.js' : 'worker.js'],
        Env: ['APP_ENV=bench', ...(web ? [] : ['QUEUE=default'])],
        Labels: { 'pipeline.project': PROJECT, 'pipeline.service': service },
        ExposedPorts: web ? { '8000/tcp': {} } : {},
        StopTimeout: 5,
        HostConfig: {
          PortBindings: web ? { '8000/tcp': [{ HostPort: String(WEB_PORT) }] } : {},
          RestartPolicy: { Name: 'unless-stopped' },
        },
      });
      await api(socket, 'POST', `/containers/${JSON.parse(created.text).Id}/start`);
      if (web) {
        let ok = await healthy(world.host(n));
        for (let attempt = 1; attempt < 50 && !ok; attempt += 1) {
          await delay(200);
          ok = await healthy(world.host(n));
        }
        if (!ok) throw new Error(`h${n}: web not healthy`);
      } else {
        await delay(1000);
        if (!(await running(socket, name))) throw new Error(`h${n}: worker exited`);
      }
    }),
  );
}

/** Deploys `image:tag` to hosts hN (numbers), all at once; resolves with the wall time in ms. */
export async function engineWorkAlone(world, hostNumbers, image, tag) {
  const started = process.hrtime.bigint();
  await Promise.all(hostNumbers.map((n) => deployHost(world, n, image, tag)));
  return Number(process.hrtime.bigint() - started) / 1e6;
}
