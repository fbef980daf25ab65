import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Every relative link in the project's Markdown must lead somewhere: the docs were split out of one README, and a
 * moved section silently breaks the links into it.
 */
const ROOT = resolve(import.meta.dirname, '../..');

/** The Markdown files whose links are checked, relative to the root. */
function documents(): string[] {
  const under = (dir: string) =>
    existsSync(join(ROOT, dir))
      ? readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
          .filter((file) => file.endsWith('.md') && !file.split('/').includes('node_modules'))
          .map((file) => join(dir, file))
      : [];
  return [
    'README.md',
    'CONTRIBUTING.md',
    'bench/README.md',
    ...under('docs'),
    ...under('runbooks'),
    ...under('terraform'),
  ].sort();
}

/** The text with fenced code blocks and inline code blanked out, so neither yields headings or links. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, 'code');
}

/** A heading's anchor as GitHub makes it: link text kept, lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a Markdown file offers; a repeated heading gets `-1`, `-2`, ... as on GitHub. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  const unfenced = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const [, heading] of unfenced.matchAll(/^#{1,6} +(.+?)[ #]*$/gm)) {
    const base = slug(heading!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    found.add(count === 0 ? base : `${base}-${count}`);
  }
  return found;
}

/** The links of a Markdown file that stay in the repository: inline, image and reference-style targets. */
function relativeLinks(markdown: string): string[] {
  const text = prose(markdown);
  const targets = [
    ...[...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map(([, target]) => target!),
    ...[...text.matchAll(/^ {0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s|$)/gm)].map(([, target]) => target!),
  ];
  return targets.filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

/**
 * The links of `file` (relative to `root`) that do not resolve: a missing file or folder, or an `#anchor` that no
 * heading of the Markdown file it points into makes.
 */
function brokenLinks(root: string, file: string, markdown: string): string[] {
  return relativeLinks(markdown).filter((link) => {
    const [path, anchor] = link.split('#', 2) as [string, string | undefined];
    if (path === '') return !anchors(markdown).has(anchor!.toLowerCase());
    const target = resolve(root, dirname(file), decodeURIComponent(path));
    if (!existsSync(target)) return true;
    if (anchor === undefined || anchor === '' || !target.endsWith('.md') || statSync(target).isDirectory())
      return false;
    return !anchors(readFileSync(target, 'utf8')).has(anchor.toLowerCase());
  });
}

describe('relative links in the docs', () => {
  const files = documents();

  it('covers the README, CONTRIBUTING, docs/, bench, runbooks and terraform', () => {
    for (const file of [
      'README.md',
      'CONTRIBUTING.md',
      'docs/README.md',
      'bench/README.md',
      'runbooks/README.md',
      'terraform/README.md',
    ])
      expect(files).toContain(file);
  });

  it.each(files)('%s links only files and headings that exist', (file) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    expect(brokenLinks(ROOT, file, text)).toEqual([]);
  });
});

describe('the link check', () => {
  it('finds a missing file, a missing heading and a missing heading of the same file', () => {
    const text = [
      '# Top',
      '[gone](missing.md) [no heading](api.md#no-such-heading) [self](#nowhere)',
      '[ok](api.md#error-codes) [folder](../runbooks) [up](#top) [web](https://example.com/x.md)',
      '[ref]: ../nothing-here.md',
    ].join('\n');
    expect(brokenLinks(ROOT, 'docs/synthetic.md', text)).toEqual([
      'missing.md',
      'api.md#no-such-heading',
      '#nowhere',
      '../nothing-here.md',
    ]);
  });

  it('ignores links in code and takes headings only outside code blocks', () => {
    const markdown =
      '```sh\n# Terminal 1\n[x](missing.md)\n```\n`[y](missing.md)`\n## Replay (what-if)\n## Replay (what-if)';
    expect(relativeLinks(markdown)).toEqual([]);
    expect([...anchors(markdown)]).toEqual(['replay-what-if', 'replay-what-if-1']);
  });

  it('makes anchors as GitHub does', () => {
    expect(slug('How lastgood decides')).toBe('how-lastgood-decides');
    expect(slug('`LASTGOOD_ERR_*` codes, and [links](x.md)')).toBe('lastgood_err_-codes-and-links');
  });
});
