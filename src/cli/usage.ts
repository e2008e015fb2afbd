import { ConfigError } from '../errors.js';

/** The commands, in the order the help lists them. */
export const COMMANDS = ['run', 'deploy', 'rollback', 'status', 'logs', 'exec', 'lock', 'plan', 'config', 'promote', 'completion'] as const;

/**
 * The arguments as the parser should see them: `pipeline` alone and `pipeline help`
 * show the help, `pipeline help CMD` is `pipeline CMD --help` (as with docker and npm).
 */
export function normalizeArgv(argv: readonly string[]): string[] {
  if (argv.length === 0) return ['--help'];
  if (argv[0] === 'help') return argv.length === 1 ? ['--help'] : [...argv.slice(1), '--help'];
  return [...argv];
}

/** A first word that is no command is a usage error, with the command it was probably meant to be. */
export function checkCommand(argv: readonly string[]): void {
  const word = argv[0];
  if (word === undefined || word.startsWith('-') || (COMMANDS as readonly string[]).includes(word)) return;
  const closest = closestCommand(word);
  throw new ConfigError(
    closest
      ? `unknown command "${word}": did you mean ${closest}? (pipeline --help lists the commands)`
      : `unknown command "${word}": the commands are ${COMMANDS.join(', ')}`,
  );
}

/** The command nearest to `word` (a typo, a transposition), if one is near enough. */
export function closestCommand(word: string): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of COMMANDS) {
    const distance = editDistance(word.toLowerCase(), name);
    if (distance <= Math.min(2, Math.floor(name.length / 2)) && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

/** Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i]![j] = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) rows[i]![j] = Math.min(rows[i]![j]!, rows[i - 2]![j - 2]! + 1);
    }
  }
  return rows[a.length]![b.length]!;
}
