/**
 * OpenSSH client configuration (ssh_config(5)): the file parsed by the `ssh-config` package, and what
 * it says about one host, evaluated as ssh does: Host and Match blocks in file order, the first value
 * of a keyword wins (IdentityFile accumulates), Include in place. Pure: the caller reads the files.
 */
import { type Line, parse } from 'ssh-config';
import { ConfigError } from '../errors.js';
import { wildcardMatches } from './known-hosts.js';

/** One line of a config file: its keyword lowercased, its arguments unquoted; an Include holds what it included. */
export interface SshConfigEntry {
  keyword: string;
  args: string[];
  /** For `include`: the entries of the files it names, in order (filled in by whoever reads files). */
  included?: SshConfigEntry[];
}

/** A parsed config file and where it came from (for messages). */
export interface SshConfigFile {
  path: string;
  entries: SshConfigEntry[];
}

/** The keywords the pipeline honours, as ssh would set them for one host. */
export interface SshHostConfig {
  hostName?: string;
  user?: string;
  port?: string;
  identityFiles: string[];
  /** ProxyJump or ProxyCommand, whichever came first (ssh lets the first one win over the other). */
  proxy?: { keyword: 'proxyjump' | 'proxycommand'; value: string };
  userKnownHostsFiles?: string[];
}

/** Parse config text into entries, Host and Match lines included as entries of their own. */
export function parseSshConfig(text: string, path: string): SshConfigEntry[] {
  let lines: Line[];
  try {
    lines = parse(text);
  } catch (error) {
    throw new ConfigError(`cannot parse SSH config ${path}: ${(error as Error).message}`);
  }
  const entries: SshConfigEntry[] = [];
  const add = (line: Line): void => {
    if (!('param' in line) || !line.param) return;
    const values = Array.isArray(line.value) ? line.value.map((value) => value.val) : [line.value];
    entries.push({ keyword: line.param.toLowerCase(), args: values });
    if ('config' in line) for (const inner of line.config) add(inner);
  };
  for (const line of lines) add(line);
  return entries;
}

/** What a lookup knows besides the file: the host as named, the user so far (command line), the local user. */
export interface LookupContext {
  /** The host as the pipeline config or a ProxyJump names it. */
  name: string;
  /** The user given before the file is read (it wins over the file's User); Match user sees it. */
  user?: string;
  /** The user a `Match user` sees when neither the command line nor the file gave one. */
  defaultUser: string;
  localUser: string;
}

/** The keywords the file sets for `context.name`, evaluated in file order as ssh does. */
export function lookupHost(file: SshConfigFile, context: LookupContext): SshHostConfig {
  const found: SshHostConfig = { identityFiles: [] };
  const state = { found, context, path: file.path };
  evaluate(file.entries, state, true);
  return found;
}

interface LookupState {
  found: SshHostConfig;
  context: LookupContext;
  path: string;
}

/**
 * `allowed` is false inside an Include made from a block that did not apply: its own Host and Match
 * lines never apply either (OpenSSH's SSHCONF_NEVERMATCH). The active block is restored after an Include.
 */
function evaluate(entries: readonly SshConfigEntry[], state: LookupState, allowed: boolean): void {
  let active = allowed;
  for (const entry of entries) {
    if (entry.keyword === 'host') active = allowed && hostMatches(entry.args, state.context.name);
    else if (entry.keyword === 'match') active = allowed && matchApplies(entry.args, state);
    else if (entry.keyword === 'include') evaluate(entry.included ?? [], state, active);
    else if (active) set(state.found, entry);
  }
}

function set(found: SshHostConfig, entry: SshConfigEntry): void {
  const value = entry.args.join(' ');
  switch (entry.keyword) {
    case 'hostname':
      found.hostName ??= value;
      break;
    case 'user':
      found.user ??= value;
      break;
    case 'port':
      found.port ??= value;
      break;
    case 'identityfile':
      found.identityFiles.push(value);
      break;
    case 'proxyjump':
    case 'proxycommand':
      found.proxy ??= { keyword: entry.keyword, value };
      break;
    case 'userknownhostsfile':
      found.userKnownHostsFiles ??= entry.args;
      break;
  }
}

/**
 * A Host line applies when one of its patterns matches and none of its negated ones does (case-insensitive). Its
 * patterns are separated by spaces only: a comma is part of a pattern there, unlike in `Match host a,b`.
 */
export function hostMatches(patterns: readonly string[], name: string): boolean {
  return patternListMatches(patterns, name);
}

function patternListMatches(patterns: readonly string[], text: string): boolean {
  const lowered = text.toLowerCase();
  let matched = false;
  for (const raw of patterns) {
    if (raw === '') continue;
    const negated = raw.startsWith('!');
    if (!wildcardMatches((negated ? raw.slice(1) : raw).toLowerCase(), lowered)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** Criteria without an argument. */
const BARE_CRITERIA = new Set(['all', 'canonical', 'final']);

/**
 * A Match line applies when every criterion holds. `exec`, `canonical`, `final`, `localnetwork` and any other
 * criterion the pipeline cannot evaluate without running commands or resolving names make the block not apply.
 */
function matchApplies(args: readonly string[], state: LookupState): boolean {
  const { context, found } = state;
  for (let index = 0; index < args.length; index++) {
    const raw = args[index]!;
    const negated = raw.startsWith('!');
    const criterion = (negated ? raw.slice(1) : raw).toLowerCase();
    if (criterion === 'all') continue;
    if (BARE_CRITERIA.has(criterion)) return false;
    const value = args[++index];
    if (value === undefined) throw new ConfigError(`SSH config ${state.path}: Match ${criterion} needs an argument`);
    const subject = matchSubject(criterion, context, found);
    if (subject === undefined) return false;
    if (patternListMatches(value.split(','), subject) === negated) return false;
  }
  return true;
}

function matchSubject(criterion: string, context: LookupContext, found: SshHostConfig): string | undefined {
  switch (criterion) {
    case 'host':
      return found.hostName === undefined ? context.name : expandHostName(found.hostName, context.name);
    case 'originalhost':
      return context.name;
    case 'user':
      return context.user ?? found.user ?? context.defaultUser;
    case 'localuser':
      return context.localUser;
    default:
      return undefined;
  }
}

/** HostName's tokens: `%h` is the host as named, `%%` a percent sign. */
export function expandHostName(hostName: string, name: string): string {
  return hostName.replace(/%[%h]/g, (token) => (token === '%h' ? name : '%'));
}
