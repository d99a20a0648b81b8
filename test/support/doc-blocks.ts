import { readFileSync } from 'node:fs';
import path from 'node:path';

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** The documents holding blocks that tests recompute or run: the README at the top, the guides in docs/. */
export type DocumentWithBlocks = 'README.md' | 'AUDIT_LOGGING.md' | 'KEY_ROTATION.md' | 'TLS.md';

/** The fenced block of a doc whose info string is `<lang> <name>`: the worked examples tests recompute or run. */
export function docBlock(doc: DocumentWithBlocks, name: string): string {
  const file = doc === 'README.md' ? path.join(repoRoot, doc) : path.join(repoRoot, 'docs', doc);
  const text = readFileSync(file, 'utf8');
  const match = new RegExp(`\`\`\`\\w+ ${name}\\n([\\s\\S]*?)\\n\`\`\``).exec(text);
  if (!match?.[1]) throw new Error(`${path.relative(repoRoot, file)} has no block "${name}"`);
  return match[1];
}
