/**
 * `npm run bench` runs the default suite; `npm run bench -- <scenario> [--option value …]`
 * runs one scenario with its own parameters; `npm run bench -- help` lists them.
 * Tables go to stdout, progress to stderr and to <scenario>-<time>.progress.log,
 * JSON and SVG to bench/results/.
 */
import { appendFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatResult, writeResult } from './lib/report.js'
import type { Args, Scenario } from './lib/scenario.js'
import { scenarios, defaultSuite } from './scenarios/index.js'

function parseArgs(argv: string[]): { names: string[]; args: Args } {
  const names: string[] = []
  const args: Args = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a.startsWith('--')) {
      const [key, inline] = a.slice(2).split('=', 2) as [string, string | undefined]
      if (inline !== undefined) args[key] = inline
      else if (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) args[key] = argv[++i]!
      else args[key] = true
    } else names.push(a)
  }
  return { names, args }
}

function help(): string {
  const lines = ['usage: npm run bench [-- <scenario> [--option value …]]', '', `default suite: ${defaultSuite.join(', ')}`, '']
  for (const s of Object.values(scenarios)) {
    lines.push(`${s.name}: ${s.summary}`)
    for (const [opt, text] of Object.entries(s.options)) lines.push(`  --${opt}  ${text}`)
  }
  lines.push('', 'every scenario also takes --tiny (CI sizes) and --out <dir> (default bench/results)')
  return lines.join('\n')
}

async function main(): Promise<void> {
  const { names, args } = parseArgs(process.argv.slice(2))
  if (names[0] === 'help' || args.help) {
    console.log(help())
    return
  }
  const chosen: Scenario[] = (names.length > 0 ? names : defaultSuite).map((n) => {
    const s = scenarios[n]
    if (!s) throw new Error(`unknown scenario '${n}'; try: ${Object.keys(scenarios).join(', ')}`)
    return s
  })
  const out = typeof args.out === 'string' ? args.out : join(fileURLToPath(new URL('.', import.meta.url)), 'results')
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const tiny = args.tiny === true
  mkdirSync(out, { recursive: true })
  for (const scenario of chosen) {
    const started = Date.now()
    process.stderr.write(`[bench] ${scenario.name}: starting\n`)
    const result = await scenario.run({
      args,
      tiny,
      progress: (m) => {
        const line = `[bench] ${scenario.name}: ${m}\n`
        process.stderr.write(line)
        // on disk as it goes: a long run stopped early still leaves what it finished
        appendFileSync(join(out, `${scenario.name}-${stamp}.progress.log`), `${new Date().toISOString()} ${line}`)
      },
    })
    console.log(formatResult(result))
    const paths = await writeResult(out, result, stamp)
    console.log(`\n(${((Date.now() - started) / 1000).toFixed(1)} s; wrote ${paths.join(', ')})\n`)
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err)
  process.exitCode = 1
})
