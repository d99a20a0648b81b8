import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The fenced block of a doc whose info string is `<lang> <name>`: the worked examples tests recompute. */
export function docBlock(doc: 'AUDIT_LOGGING.md', name: string): string {
  const text = readFileSync(path.resolve(import.meta.dirname, '../../docs', doc), 'utf8');
  const match = new RegExp(`\`\`\`\\w+ ${name}\\n([\\s\\S]*?)\\n\`\`\``).exec(text);
  if (!match?.[1]) throw new Error(`docs/${doc} has no block "${name}"`);
  return match[1];
}
