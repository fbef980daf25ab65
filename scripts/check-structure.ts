import { fileURLToPath } from 'node:url';
import { checkStructure, MAX_LINES, readSources } from './structure.ts';

// Checks the structure rules over src/ and prints each violation; exits 1 when there is any.
const root = fileURLToPath(new URL('..', import.meta.url));
const violations = checkStructure(readSources(root), { maxLines: MAX_LINES });
for (const violation of violations) {
  process.stdout.write(`${violation.rule}: ${violation.file}: ${violation.detail}\n`);
}
process.stdout.write(
  violations.length === 0 ? 'structure: ok\n' : `structure: ${violations.length} violation(s)\n`,
);
process.exitCode = violations.length === 0 ? 0 : 1;
