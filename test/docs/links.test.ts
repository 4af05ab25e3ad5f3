/**
 * Every relative link in the project's markdown (README.md, docs/, examples/) points at a file or
 * folder that exists, and a `#fragment` into a markdown file names one of its headings (GitHub's
 * anchor for it). Links to other sites are not followed: the tests reach nothing but 127.0.0.1.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
// Dependencies, build output and test runs' leftovers hold markdown that is not ours.
const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'test-artifacts', 'results'])

function markdownFiles (dir: string): string[] {
  const files: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || SKIPPED_DIRS.has(entry.name)) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) files.push(...markdownFiles(path))
    else if (entry.name.endsWith('.md')) files.push(path)
  }
  return files
}

/** The markdown outside fenced code blocks: code shows links and headings, it does not make them. */
function prose (markdown: string): string[] {
  const lines: string[] = []
  let fence: string | undefined
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1]
    if (marker !== undefined && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined
      continue
    }
    if (fence === undefined) lines.push(line)
  }
  return lines
}

/** GitHub's anchor for a heading: its text, lower case, punctuation dropped, spaces as hyphens. */
function anchorOf (heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-')
}

/** The anchors a markdown file offers: one per heading (repeats get -1, -2 …), and explicit ids. */
function anchors (file: string): Set<string> {
  const found = new Set<string>()
  const seen = new Map<string, number>()
  for (const line of prose(readFileSync(file, 'utf8'))) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1]
    if (heading !== undefined) {
      const anchor = anchorOf(heading)
      const count = seen.get(anchor) ?? 0
      seen.set(anchor, count + 1)
      found.add(count === 0 ? anchor : `${anchor}-${count}`)
    }
    for (const [, id] of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) if (id !== undefined) found.add(id)
  }
  return found
}

/** The link targets of a markdown file: inline links and images, and reference definitions. */
function linkTargets (file: string): string[] {
  const targets: string[] = []
  for (const line of prose(readFileSync(file, 'utf8'))) {
    const text = line.replace(/`[^`]*`/g, '')
    for (const [, target] of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) if (target !== undefined) targets.push(target)
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(text)?.[1]
    if (definition !== undefined) targets.push(definition)
  }
  return targets
}

/** What is wrong with the relative links of these files, one line each; empty when all is well. */
function brokenLinks (root: string, files: string[]): string[] {
  const problems: string[] = []
  for (const file of files) {
    const name = relative(root, file)
    for (const target of linkTargets(file)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // https:, mailto: …: another site
      const hash = target.indexOf('#')
      const pathPart = decodeURI(hash === -1 ? target : target.slice(0, hash))
      const fragment = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1))
      const path = pathPart === '' ? file : pathPart.startsWith('/') ? join(root, pathPart) : resolve(dirname(file), pathPart)
      let isFile: boolean
      try {
        isFile = statSync(path).isFile()
      } catch {
        problems.push(`${name}: ${target}: no such file or folder`)
        continue
      }
      if (fragment !== undefined && fragment !== '' && isFile && path.endsWith('.md') && !anchors(path).has(fragment)) {
        problems.push(`${name}: ${target}: ${relative(root, path)} has no heading with the anchor #${fragment}`)
      }
    }
  }
  return problems
}

t.test('every relative link in the markdown points at a file that exists, and at a heading in it', async (t) => {
  const files = markdownFiles(ROOT)
  const names = files.map((file) => relative(ROOT, file))
  for (const expected of ['README.md', 'docs/api.md', 'docs/configuration.md', 'examples/media-app/README.md']) {
    t.ok(names.includes(expected), `${expected} is checked`)
  }
  t.ok(files.reduce((sum, file) => sum + linkTargets(file).length, 0) > 50, 'the files have links to check')
  t.same(brokenLinks(ROOT, files), [], 'no broken relative links')
})

t.test('the check finds a missing file, a missing heading, and accepts what GitHub accepts', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'r2-signer-links-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  mkdirSync(join(root, 'docs'))
  writeFileSync(join(root, 'docs', 'api.md'), [
    '# API', '', '### `POST /v1/download-urls`', '', '## Health: `/healthz` vs `/readyz`', '', '## Notes', '', '## Notes', '',
    '```sh', '# not a heading', '```'
  ].join('\n'))
  writeFileSync(join(root, 'README.md'), [
    '[ok](docs/api.md) [ok](docs/api.md#post-v1download-urls) [ok](./docs/api.md#health-healthz-vs-readyz)',
    '[ok](docs/api.md#notes-1) [ok](docs/) [ok](#start) [ok](https://example.com/missing.md)',
    '<a id="start"></a>',
    '[gone](docs/missing.md) [no heading](docs/api.md#no-such-heading) [code](docs/api.md#not-a-heading)',
    '`[in code](docs/also-missing.md)`',
    '```', '[in a fence](docs/missing-too.md)', '```',
    '[ref]: docs/reference-missing.md'
  ].join('\n'))
  t.same(brokenLinks(root, markdownFiles(root)), [
    'README.md: docs/missing.md: no such file or folder',
    'README.md: docs/api.md#no-such-heading: docs/api.md has no heading with the anchor #no-such-heading',
    'README.md: docs/api.md#not-a-heading: docs/api.md has no heading with the anchor #not-a-heading',
    'README.md: docs/reference-missing.md: no such file or folder'
  ])
})
