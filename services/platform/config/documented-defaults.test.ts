import assert from 'node:assert/strict';
import { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Secret } from '../secret.ts';
import {
  AUDIT_DELIVERY_BY_ENVIRONMENT,
  CONFIG_CHOICES,
  CONFIG_DEFAULTS,
  DEFAULT_PORTS,
  loadConfig,
  SECRET_NAMES,
  type Config,
  type Env,
  type Environment,
  type ServiceName,
} from './index.ts';

/**
 * README.md's configuration table and .env.example against the code: every variable loadConfig
 * reads is documented in both, every documented default and list of allowed values is the one in
 * CONFIG_DEFAULTS / CONFIG_CHOICES, and those are what loadConfig really does when a variable is unset.
 */
const repoRoot = path.resolve(import.meta.dirname, '../../..');
const SERVICES = Object.keys(DEFAULT_PORTS) as ServiceName[];
/** Defaults that depend on the process or its environment, checked on their own below. */
const PER_PROCESS = new Set(['PORT', 'AUDIT_DELIVERY']);

type DefaultValue = string | number | boolean | readonly string[];
const defaults: Readonly<Record<string, DefaultValue>> = CONFIG_DEFAULTS;

/** A default as it is written in an environment variable. */
function asWritten(value: DefaultValue): string {
  return typeof value === 'object' ? value.join(',') : String(value);
}

// ---------------------------------------------------------------------------- README.md

interface ReadmeEntry {
  /** The default column's part for this variable: a `literal`, a description, or —. */
  documentedDefault: string;
  meaning: string;
  secret: boolean;
}

/** Splits on `separator` outside backticks. */
function splitOutsideCode(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let inCode = false;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '`') inCode = !inCode;
    if (!inCode && text.startsWith(separator, i)) {
      parts.push(current);
      current = '';
      i += separator.length - 1;
      continue;
    }
    current += text[i];
  }
  return [...parts, current].map((part) => part.trim());
}

function readmeSection(readme: string, heading: string): string {
  const start = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README.md has no "## ${heading}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

function tableRows(section: string, header: string): string[][] {
  const lines = section.split('\n');
  const at = lines.indexOf(header);
  assert.ok(at >= 0, `README.md has no table headed "${header}"`);
  const rows: string[][] = [];
  for (const line of lines.slice(at + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(splitOutsideCode(line.replace(/^\|/, '').replace(/\|$/, ''), '|'));
  }
  return rows;
}

function readReadmeTable(readme: string): Map<string, ReadmeEntry> {
  const entries = new Map<string, ReadmeEntry>();
  for (const [names = '', defaultCell = '', meaning = ''] of tableRows(readmeSection(readme, 'Configuration'), '| variable | default | meaning |')) {
    const variables = [...names.matchAll(/`([A-Z][A-Z0-9_]*)`( \(secret\))?/g)];
    assert.ok(variables.length > 0, `README configuration row "${names}" names no variable`);
    const parts = variables.length === 1 ? [defaultCell] : splitOutsideCode(defaultCell, ', ');
    assert.ok(
      parts.length === 1 || parts.length === variables.length,
      `README row ${names}: ${parts.length} defaults for ${variables.length} variables (give one each, or one for all)`,
    );
    variables.forEach(([, name = '', secret], i) => {
      assert.ok(!entries.has(name), `README documents ${name} twice`);
      entries.set(name, { documentedDefault: parts[parts.length === 1 ? 0 : i]!, meaning, secret: secret !== undefined });
    });
  }
  return entries;
}

function literalIn(text: string): string | undefined {
  return /`([^`]*)`/.exec(text)?.[1];
}

function codeWordsIn(text: string): string[] {
  return [...text.matchAll(/`([^`]*)`/g)].map((match) => match[1]!);
}

// ---------------------------------------------------------------------------- .env.example

interface ExampleEntry {
  value: string;
  /** The comment lines directly above it, without their `#`. */
  comment: string[];
}

/** Each `NAME=value` or commented-out `# NAME=value` line with the comment block right above it. */
function readEnvExample(text: string): Map<string, ExampleEntry[]> {
  const entries = new Map<string, ExampleEntry[]>();
  let comment: string[] = [];
  for (const line of text.split('\n')) {
    const assignment = /^(?:#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (assignment) {
      const [, name = '', raw = ''] = assignment;
      const value = raw
        .trim()
        .replace(/^'(.*)'$/, '$1')
        .replace(/^"(.*)"$/, '$1');
      entries.set(name, [...(entries.get(name) ?? []), { value, comment }]);
      comment = [];
    } else if (line.startsWith('#')) {
      comment = [...comment, line.replace(/^#\s?/, '')];
    } else {
      comment = [];
    }
  }
  return entries;
}

/** `a | b | c` in a comment block. */
function choicesIn(comment: string[]): string[] | undefined {
  for (const line of comment) {
    const list = /[\w.-]+(?: \| [\w.-]+)+/.exec(line)?.[0];
    if (list) return list.split(' | ');
  }
  return undefined;
}

/** "`spool` in development; `fail-closed` in test, staging and production" as environment → value. */
function perEnvironment(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const part of text.split(';')) {
    const match = /`?([a-z-]+)`? in ([a-z, ]+)/.exec(part.trim());
    assert.ok(match, `"${part.trim()}" does not read "<value> in <environments>"`);
    for (const environment of match[2]!.split(/, | and /)) result[environment.trim()] = match[1]!;
  }
  return result;
}

// ---------------------------------------------------------------------------- the code

const STRONG = 'Xq3vN8kP2mR7tY4wZ9aB6cD1eF5gH0jK';
/** Everything required given, the URLs built from their parts so POSTGRES_* and REDIS_* are read too. */
const minimalEnv: Env = {
  POSTGRES_HOST: 'postgres',
  REDIS_HOST: 'redis',
  AUDIT_LOG_SECRET_KEY: `k1:${STRONG}`,
  JWT_KEY_ENCRYPTION_KEY: 'ab'.repeat(32),
  AUDIT_DIGEST_KEY_ENCRYPTION_KEY: 'cd'.repeat(32),
  METRICS_TOKEN: STRONG,
};

/** Every variable loadConfig reads for any process, development or production; NAME_FILE counts as NAME. */
function variablesReadByLoadConfig(): Set<string> {
  const read = new Set<string>();
  const recording = (env: Env): Env =>
    new Proxy(env, {
      get(target, key, receiver) {
        if (typeof key === 'string') read.add(key);
        return Reflect.get(target, key, receiver);
      },
    });
  for (const service of SERVICES) {
    for (const env of [minimalEnv, { ...minimalEnv, ENVIRONMENT: 'production' }]) loadConfig(service, recording(env));
  }
  const secretFiles = new Map<string, string>(SECRET_NAMES.map((name) => [`${name}_FILE`, name]));
  return new Set([...read].map((name) => secretFiles.get(name) ?? name));
}

/** The configuration as text, secrets and keys included, to compare two loads. */
function comparable(config: Config): string {
  return JSON.stringify(config, function (this: Record<string, unknown>, key, value: unknown) {
    const raw = this[key];
    if (raw instanceof Secret) return `secret ${raw.reveal()}`;
    if (raw instanceof RegExp) return `regexp ${raw.source}`;
    if (raw instanceof KeyObject) return `key ${raw.export().toString('hex')}`;
    return value;
  });
}

describe('documented configuration', () => {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const table = readReadmeTable(readme);
  const example = readEnvExample(readFileSync(path.join(repoRoot, '.env.example'), 'utf8'));
  const read = variablesReadByLoadConfig();

  it('when the documents are parsed, then they hold the variables the code reads', () => {
    assert.ok(read.size > 40, `loadConfig read only ${read.size} variables`);
    assert.ok(table.size > 40, `README's configuration table documents only ${table.size} variables`);
    assert.ok(example.size > 40, `.env.example documents only ${example.size} variables`);
  });

  it('when loadConfig reads a variable, then README and .env.example both document it', () => {
    assert.deepEqual(
      [...read].filter((name) => !table.has(name)),
      [],
      'missing from README.md',
    );
    assert.deepEqual(
      [...read].filter((name) => !example.has(name)),
      [],
      'missing from .env.example',
    );
  });

  it('when README documents a variable, then loadConfig reads it', () => {
    assert.deepEqual(
      [...table.keys()].filter((name) => !read.has(name)),
      [],
    );
  });

  it('when a variable has a default in code, then README and .env.example give that default', () => {
    for (const [name, value] of Object.entries(defaults)) {
      const expected = asWritten(value);
      assert.equal(literalIn(table.get(name)?.documentedDefault ?? ''), expected, `README default of ${name}`);
      for (const entry of example.get(name) ?? []) assert.equal(entry.value, expected, `.env.example value of ${name}`);
    }
  });

  it('when a variable has no fixed default in code, then README gives none', () => {
    for (const [name, { documentedDefault }] of table) {
      if (name in defaults || PER_PROCESS.has(name)) continue;
      assert.equal(literalIn(documentedDefault), undefined, `README gives ${name} the default "${documentedDefault}", the code none`);
    }
  });

  it('when a variable takes one of a fixed set of values, then README and .env.example list exactly those', () => {
    for (const [name, choices] of Object.entries(CONFIG_CHOICES)) {
      assert.deepEqual(codeWordsIn(table.get(name)?.meaning ?? '').sort(), [...choices].sort(), `README values of ${name}`);
      for (const entry of example.get(name) ?? []) {
        assert.deepEqual(choicesIn(entry.comment)?.sort(), [...choices].sort(), `.env.example values of ${name}`);
        assert.ok(choices.includes(entry.value), `.env.example sets ${name} to "${entry.value}"`);
      }
    }
  });

  it('when AUDIT_DELIVERY is unset, then README and .env.example name the per-environment default the code uses', () => {
    assert.deepEqual(perEnvironment(table.get('AUDIT_DELIVERY')?.documentedDefault ?? ''), AUDIT_DELIVERY_BY_ENVIRONMENT);
    for (const entry of example.get('AUDIT_DELIVERY') ?? []) {
      const note = /\(default: ([^)]*)\)/.exec(entry.comment.join(' '))?.[1];
      assert.ok(note, '.env.example states no default for AUDIT_DELIVERY');
      assert.deepEqual(perEnvironment(note), AUDIT_DELIVERY_BY_ENVIRONMENT);
    }
  });

  it('when PORT is unset, then each process listens where README and .env.example say', () => {
    const ports = tableRows(readmeSection(readme, 'Ports and endpoints'), '| process | port | entry point |');
    const portComment = (example.get('PORT') ?? []).flatMap((entry) => entry.comment).join(' ');
    for (const service of SERVICES) {
      const row = ports.find(([process = '']) => process === service || process.startsWith(`${service} `));
      assert.equal(Number(/\d+/.exec(row?.[1] ?? '')?.[0]), DEFAULT_PORTS[service], `README port of ${service}`);
      assert.equal(Number(new RegExp(`\\b${service}(?: metrics)? (\\d+)`).exec(portComment)?.[1]), DEFAULT_PORTS[service], `.env.example port of ${service}`);
    }
    for (const entry of example.get('PORT') ?? []) assert.ok(Object.values(DEFAULT_PORTS).includes(Number(entry.value)));
  });

  it('when a secret is documented, then README marks it (secret) and .env.example names its _FILE form', () => {
    const marked = [...table].filter(([, entry]) => entry.secret).map(([name]) => name);
    assert.deepEqual(marked.sort(), [...SECRET_NAMES].sort());
    const text = readFileSync(path.join(repoRoot, '.env.example'), 'utf8');
    for (const name of SECRET_NAMES) assert.ok(text.includes(`${name}_FILE=`), `.env.example does not mention ${name}_FILE`);
  });

  it('when a variable is set to its default, then every process is configured as with it unset', () => {
    for (const service of SERVICES) {
      for (const environment of Object.keys(AUDIT_DELIVERY_BY_ENVIRONMENT) as Environment[]) {
        // The default environment is left unset, so setting ENVIRONMENT to it is checked too.
        const env: Env = environment === defaults.ENVIRONMENT ? minimalEnv : { ...minimalEnv, ENVIRONMENT: environment };
        const unset = comparable(loadConfig(service, env));
        const explicit: Record<string, string> = {
          PORT: String(DEFAULT_PORTS[service]),
          AUDIT_DELIVERY: AUDIT_DELIVERY_BY_ENVIRONMENT[environment],
        };
        for (const [name, value] of Object.entries(defaults)) {
          explicit[name] = asWritten(value).replace('<process>', service).replace('<STORAGE_ELEMENT_ID>', asWritten(defaults.STORAGE_ELEMENT_ID!));
        }
        for (const [name, value] of Object.entries(explicit)) {
          if (name in env) continue;
          assert.equal(comparable(loadConfig(service, { ...env, [name]: value })), unset, `${service} in ${environment} with ${name}=${value}`);
        }
      }
    }
  });
});
