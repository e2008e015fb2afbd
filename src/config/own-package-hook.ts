// A module-resolution hook for Node < 22.15, registered by own-package.ts with module.register:
// it runs in Node's hooks thread and resolves the package's names to the CLI's own entry.

interface Target {
  names: readonly string[];
  url: string;
}
type Next = (specifier: string, context: object) => Promise<object>;

let target: Target = { names: [], url: '' };

export function initialize(data: Target): void {
  target = data;
}

export async function resolve(specifier: string, context: object, next: Next): Promise<object> {
  return target.names.includes(specifier) ? { url: target.url, shortCircuit: true } : next(specifier, context);
}
