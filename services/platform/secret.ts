import { inspect } from 'node:util';

const REDACTED = '[REDACTED]';

/**
 * A secret value that cannot leak by accident: JSON, string conversion and util.inspect
 * (so pino, console and error messages) all print `[REDACTED]`; only `reveal()` gives the value.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/** A URL with its password replaced, safe to log ("postgresql://artstore:***@db:5432/artstore"). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return REDACTED;
  }
}
