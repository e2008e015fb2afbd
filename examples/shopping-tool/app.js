// The shopping tool's HTTP handler, kept apart from the server so tests can call it.
export function handle(request, response) {
  if (request.url === '/health') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ status: 'ok', release: process.env.RELEASE ?? 'dev', environment: process.env.APP_ENV ?? 'none' }));
    return;
  }
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end('Allume Shopping Tool\n');
}
