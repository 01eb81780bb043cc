import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

/**
 * The operator's guide (docs/): the README links every page, and every
 * relative link in the pages and the README reaches a file (and a heading,
 * for a #fragment, slugged as GitHub does).
 */
const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..')
const PAGES = ['high-availability.md', 'disaster-recovery.md', 'scaling.md', 'monitoring.md', 'security.md', 'integration.md']

/** GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '')
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)))
}

function links(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '')
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l))
}

describe('docs/: the operator\u2019s guide', () => {
  it('has every page, and the README links each of them and the alert rules', () => {
    const readme = links(join(root, 'README.md'))
    for (const page of PAGES) {
      assert.ok(existsSync(join(root, 'docs', page)), `docs/${page} exists`)
      assert.ok(readme.includes(`docs/${page}`), `the README links docs/${page}`)
    }
    assert.ok(readme.includes('docs/alerts.yml'), 'the README links docs/alerts.yml')
  })

  it('every relative link reaches a file and a heading', () => {
    const files = [join(root, 'README.md'), ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(root, 'docs', f))]
    const broken: string[] = []
    for (const file of files) {
      for (const link of links(file)) {
        const [path, fragment] = link.split('#') as [string, string | undefined]
        const target = path === '' ? file : resolve(dirname(file), path)
        if (!existsSync(target)) {
          broken.push(`${file.slice(root.length + 1)}: ${link} (no such file)`)
          continue
        }
        if (fragment !== undefined && target.endsWith('.md') && !anchors(target).has(fragment)) broken.push(`${file.slice(root.length + 1)}: ${link} (no such heading)`)
      }
    }
    assert.deepEqual(broken, [])
  })
})
