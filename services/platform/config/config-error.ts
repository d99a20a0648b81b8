/** One bad setting: the variable to change and what it must hold. */
export interface ConfigProblem {
  variable: string;
  message: string;
}

/**
 * A configuration the process cannot start with. `variable` names the first variable to fix;
 * `problems` lists every one found, each a line of the message.
 */
export class ConfigError extends Error {
  readonly variable: string;
  readonly problems: readonly ConfigProblem[];

  constructor(variable: string, message: string, more: readonly ConfigProblem[] = []) {
    const problems = [{ variable, message }, ...more];
    super(
      problems.length === 1
        ? `${variable}: ${message}`
        : `${problems.length} configuration problems:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.variable = variable;
    this.problems = problems;
  }
}

/** Gathers the problems of every section, so one start-up names them all rather than one per attempt. */
export class ConfigProblems {
  readonly #found: ConfigProblem[] = [];

  /** What `read` returns, or undefined when it throws a ConfigError, which is kept. */
  check<T>(read: () => T): T | undefined {
    const outcome = this.#attempt(read);
    return outcome.ok ? outcome.value : undefined;
  }

  #attempt<T>(read: () => T): { ok: true; value: T } | { ok: false } {
    try {
      return { ok: true, value: read() };
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const problem of err.problems) this.add(problem);
      return { ok: false };
    }
  }

  add(problem: ConfigProblem): void {
    // A secret read by two sections reports its unreadable file once.
    if (this.#found.some((p) => p.variable === problem.variable && p.message === problem.message)) return;
    this.#found.push(problem);
  }

  /** True when a problem names `variable` or a form of it (NAME_FILE, "NAME (key k1)"). */
  concerns(variable: string): boolean {
    return this.#found.some((p) => p.variable.startsWith(variable));
  }

  /** Runs every reader in order; a section whose reader failed is left out. */
  readSections<T extends object>(readers: { [K in keyof T]-?: () => T[K] }): Partial<T> {
    const sections: Partial<T> = {};
    for (const key of Object.keys(readers) as (keyof T)[]) {
      const outcome = this.#attempt(readers[key]);
      if (outcome.ok) sections[key] = outcome.value;
    }
    return sections;
  }

  /** The sections when nothing failed; otherwise one ConfigError listing every problem. */
  complete<T extends object>(sections: Partial<T>): T {
    const [first, ...rest] = this.#found;
    if (first) throw new ConfigError(first.variable, first.message, rest);
    // No reader failed, so readSections kept every section.
    return sections as T;
  }
}
