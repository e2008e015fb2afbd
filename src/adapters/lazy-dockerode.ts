/**
 * Imported before dockerode: its BuildKit session support (gRPC and protobuf, about half of the ~190 ms dockerode
 * takes to load, on every command that talks to an engine) is loaded only if it is ever called, which this runner
 * never does: it builds with the classic builder.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const session = join(dirname(require.resolve('dockerode')), 'session.js');
if (!require.cache[session]) {
  const load = (...args: unknown[]): unknown => {
    delete require.cache[session];
    return (require(session) as (...a: unknown[]) => unknown)(...args);
  };
  require.cache[session] = {
    id: session,
    filename: session,
    loaded: true,
    exports: load,
    children: [],
    paths: [],
  } as unknown as NodeJS.Module;
}
