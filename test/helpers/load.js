// A request loop against a web address, for zero-downtime checks (tests) and latency figures (benchmark).
import { get } from 'node:http';

/**
 * Sends `GET url` every 1000/rate ms (each on a new connection, as independent clients do) until `stop()` or
 * `maxMs` or `maxRequests`, whichever comes first. Resolves `stop()` with every request's outcome:
 * { at, ms, status, body, error } — a failure is an error or a status other than 2xx.
 */
export function requestLoop(url, { rate = 50, maxMs = 180_000, maxRequests = 20_000, timeoutMs = 5_000 } = {}) {
  const results = [];
  const pending = new Set();
  const started = Date.now();
  let sent = 0;
  let stopped = false;
  const one = () =>
    new Promise((resolve) => {
      const at = Date.now();
      const t0 = process.hrtime.bigint();
      const done = (outcome) => {
        results.push({ at, ms: Number(process.hrtime.bigint() - t0) / 1e6, ...outcome });
        resolve();
      };
      const req = get(url, { agent: false, timeout: timeoutMs }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => done({ status: res.statusCode, body }));
        res.on('error', (error) => done({ error: error.message }));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (error) => done({ error: error.message }));
    });
  const timer = setInterval(() => {
    if (stopped || sent >= maxRequests || Date.now() - started > maxMs) return;
    sent += 1;
    const request = one();
    pending.add(request);
    request.finally(() => pending.delete(request));
  }, 1000 / rate);
  return {
    /** Stops sending, waits for the requests in flight, and resolves with all outcomes in the order they were sent. */
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all([...pending]);
      return results.sort((a, b) => a.at - b.at);
    },
  };
}

/** The requests of a loop that failed: an error, or a status other than 2xx. */
export function failures(results) {
  return results.filter((r) => r.error || r.status < 200 || r.status >= 300);
}

/** Requests per second over a loop's span. */
export function rateOf(results) {
  if (results.length < 2) return 0;
  return (results.length - 1) / ((results.at(-1).at - results[0].at) / 1000);
}
