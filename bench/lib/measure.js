// Running a command and measuring it: wall time, peak RSS, output; medians and ratios.
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TIME = '/usr/bin/time';

/**
 * Runs argv to completion and resolves with { ms, code, output, rssKb? }. `rss: true` wraps it in /usr/bin/time
 * for the peak resident set size of the command (the same wrapper on both sides of a comparison).
 * `sink: 'null'` sends stdout to /dev/null (for commands that print hundreds of MB); otherwise the output is kept
 * (its last 64 KB) for error messages and checks.
 */
export function measure(argv, { cwd, env, rss = false, sink = 'keep', input, timeoutMs = 10 * 60_000, keepAll = false } = {}) {
  const rssFile = rss ? join(tmpdir(), `bench-rss-${process.pid}-${Math.random().toString(36).slice(2)}`) : undefined;
  const command = rss ? [TIME, '-f', '%M', '-o', rssFile, ...argv] : argv;
  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    const started = process.hrtime.bigint();
    const child = spawn(command[0], command.slice(1), {
      cwd,
      env,
      stdio: [input === undefined ? 'ignore' : 'pipe', sink === 'null' ? 'ignore' : 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk) => {
      output += chunk;
      if (!keepAll && output.length > 1 << 17) output = output.slice(-(1 << 16));
    };
    child.stdout?.on('data', keep);
    child.stderr.on('data', keep);
    if (input !== undefined) child.stdin.end(input);
    // A run that hangs must not hang the benchmark: SIGTERM (the CLI cleans up), then SIGKILL.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', async (code, signal) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (timedOut) output += `\n(bench: stopped after ${timeoutMs / 1000}s)`;
      let rssKb;
      if (rssFile) {
        const text = await readFile(rssFile, 'utf8').catch(() => '');
        // /usr/bin/time writes "Command exited with non-zero status N" before the figure when the command fails.
        rssKb = Number(text.trim().split('\n').at(-1));
        await rm(rssFile, { force: true });
      }
      resolve({ ms, code: code ?? (signal ? 128 : 1), output, rssKb, startedAt });
    });
  });
}

/** Like measure(), but a non-zero exit is an error naming the command and its last output. */
export async function measureOk(label, argv, options) {
  const result = await measure(argv, options);
  if (result.code !== 0) throw new Error(`${label} failed (exit ${result.code}):\n${result.output.split('\n').slice(-25).join('\n')}`);
  return result;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function ratio(a, b) {
  return Math.round((a / b) * 1000) / 1000;
}

/**
 * Orders for `reps` repetitions of `names`: each repetition rotates the order by one, so every variant runs first,
 * second, ... equally often and none always runs on a warmer (or busier) machine.
 */
export function rotations(names, reps) {
  return Array.from({ length: reps }, (_, rep) => names.map((_, i) => names[(i + rep) % names.length]));
}

export function round(value, digits = 1) {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
