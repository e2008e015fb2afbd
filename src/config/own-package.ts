import * as nodeModule from 'node:module';
import { fileURLToPath } from 'node:url';

/** What a config imports `defineConfig` from: the package's name, and `pipeline`, the name it had unpublished. */
export const OWN_PACKAGE_NAMES: readonly string[] = ['@allume/pipeline', 'pipeline'];

/** The package's entry (dist/index.js) of this copy of the CLI. */
const ENTRY_URL = new URL('../index.js', import.meta.url).href;

type Resolve = (specifier: string, context: object, next: (specifier: string, context: object) => object) => object;
interface ModuleWithHooks {
  registerHooks?: (hooks: { resolve: Resolve }) => unknown;
}
interface CommonJsResolver {
  _resolveFilename: (request: string, ...rest: unknown[]) => string;
}

let registered = false;

/**
 * Makes the package's names resolve to this copy of it, in the config and in everything it
 * imports or requires. A config beside a globally installed CLI has no node_modules that
 * holds the package, and one in a project may hold another version: either way the config
 * gets the `defineConfig` of the CLI that loads it. Once per process; it touches no other name.
 */
export function resolveOwnPackage(): void {
  if (registered) return;
  registered = true;
  const { registerHooks } = nodeModule as ModuleWithHooks;
  if (registerHooks) {
    // Node ≥ 22.15: one synchronous hook, in this thread, for import and require alike.
    registerHooks({
      resolve: (specifier, context, next) =>
        OWN_PACKAGE_NAMES.includes(specifier) ? { url: ENTRY_URL, shortCircuit: true } : next(specifier, context),
    });
    return;
  }
  // Older Node: import goes through an off-thread hook (module.register, which newer Node deprecates
  // for registerHooks, hence only here), require through the CommonJS resolver, which it does not reach.
  nodeModule.register(new URL('./own-package-hook.js', import.meta.url), { data: { names: OWN_PACKAGE_NAMES, url: ENTRY_URL } });
  const resolver = nodeModule.default as unknown as CommonJsResolver;
  const resolveFilename = resolver._resolveFilename;
  const entryPath = fileURLToPath(ENTRY_URL);
  resolver._resolveFilename = function (this: unknown, request, ...rest) {
    return OWN_PACKAGE_NAMES.includes(request) ? entryPath : resolveFilename.call(this, request, ...rest);
  };
}
