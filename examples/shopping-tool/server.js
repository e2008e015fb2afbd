import { createServer } from 'node:http';
import { handle } from './app.js';

const port = Number(process.env.PORT ?? 8000);
const server = createServer(handle).listen(port, () => console.log(`web: listening on ${port} (${process.env.APP_ENV ?? 'no environment'})`));

// Stop promptly on `docker stop`, as a well-behaved service does.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
