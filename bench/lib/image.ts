import {
  chmodSync,
  chownSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const REPO = new URL('../../', import.meta.url).pathname;

/** The uid and gid of `node` in the official Node images, which the Dockerfile's `USER node` runs as. */
export const IMAGE_USER = { uid: 1000, gid: 1000 } as const;

/**
 * The files .dockerignore lets into the build context, relative to the repository (its `*`, `!path` and `path`
 * lines; the last match wins, and a rule matches a path and each of its parents, as Docker's does).
 */
export function buildContextFiles(root: string = REPO): string[] {
  const rules = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#'))
    .map((line) => ({ include: line.startsWith('!'), pattern: line.replace(/^!/, '').replace(/\/$/, '') }));
  for (const { pattern } of rules) {
    if (!/^(\*|[\w.-]+(\/[\w.-]+)*)$/.test(pattern))
      throw new Error(`.dockerignore: "${pattern}" is not a pattern this reader understands`);
  }
  const matches = (pattern: string, path: string) =>
    pattern === '*' || path === pattern || path.startsWith(`${pattern}/`);
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(root, path);
      if (entry.name === 'node_modules' || entry.name === '.git') continue;
      if (entry.isDirectory()) walk(path);
      else {
        let included = true;
        for (const rule of rules) if (matches(rule.pattern, rel)) included = rule.include;
        if (included) files.push(rel);
      }
    }
  };
  walk(root);
  return files;
}

/** A directory laid out as the image's /app, and who runs lastgood in it. */
export interface ImageLayout {
  dir: string;
  /** The image's runtime user when this process may switch to it (it runs as root), else none: this user. */
  user: { uid: number; gid: number } | undefined;
  /** A directory the runtime user owns, as the image's LASTGOOD_DATA_DIR (/var/lib/lastgood) is. */
  ownedDir(name: string): string;
}

/**
 * Copies the build context into a fresh temp directory (files read-only to the runtime user, as the image's are
 * root's) with the installed dependencies beside it, as `COPY --from=deps /app/node_modules` puts them.
 */
export function imageLayout(): ImageLayout {
  const dir = mkdtempSync(join(tmpdir(), 'lastgood-image-'));
  // mkdtemp makes it 0700; the runtime user must be able to enter it, as it can /app.
  chmodSync(dir, 0o755);
  for (const file of buildContextFiles()) cpSync(join(REPO, file), join(dir, file));
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  const user = process.getuid?.() === 0 ? IMAGE_USER : undefined;
  return {
    dir,
    user,
    ownedDir(name) {
      const path = join(dir, name);
      mkdirSync(path, { recursive: true });
      if (user !== undefined) chownSync(path, user.uid, user.gid);
      return path;
    },
  };
}
