import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, hostname, totalmem, release } from 'node:os'
import { join } from 'node:path'
import * as vega from 'vega'
import * as vegaLite from 'vega-lite'
import type { ScenarioResult, Table } from './scenario.js'

export function machine(): Record<string, unknown> {
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    // not a git checkout
  }
  return {
    host: hostname(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    commit,
    date: new Date().toISOString(),
  }
}

export function formatTable(table: Table): string {
  const cells = [table.columns, ...table.rows.map((r) => r.map(formatCell))]
  const widths = table.columns.map((_, i) => Math.max(...cells.map((row) => String(row[i] ?? '').length)))
  const line = (row: (string | number | null)[]) => row.map((c, i) => String(c ?? '').padStart(widths[i]!)).join('  ')
  return [`## ${table.title}`, line(table.columns), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n')
}

function formatCell(c: string | number | null): string {
  if (c === null) return '—'
  if (typeof c === 'number') {
    if (Number.isInteger(c)) return String(c)
    return Math.abs(c) >= 100 ? c.toFixed(0) : Math.abs(c) >= 1 ? c.toFixed(2) : c.toPrecision(3)
  }
  return c
}

export function formatResult(result: ScenarioResult): string {
  const out: string[] = [`# ${result.scenario}`]
  if (result.skipped) out.push(`skipped: ${result.skipped}`)
  for (const t of result.tables) out.push('', formatTable(t))
  if (result.goals.length > 0) {
    out.push('', '## goals')
    for (const g of result.goals) {
      const mark = g.met === null ? 'NOT MEASURED' : g.met ? 'met' : 'NOT MET'
      out.push(`- [${mark}] ${g.goal} — ${g.detail}`)
    }
  }
  return out.join('\n')
}

export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const compiled = vegaLite.compile(spec as unknown as vegaLite.TopLevelSpec).spec
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' })
  const svg = await view.toSVG()
  view.finalize()
  return svg
}

/** writes <dir>/<scenario>-<stamp>.json and one SVG per chart; returns the paths */
export async function writeResult(dir: string, result: ScenarioResult, stamp: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true })
  const paths: string[] = []
  const json = join(dir, `${result.scenario}-${stamp}.json`)
  writeFileSync(json, JSON.stringify({ machine: machine(), ...result }, null, 2))
  paths.push(json)
  for (const chart of result.charts) {
    const svgPath = join(dir, `${result.scenario}-${chart.name}-${stamp}.svg`)
    writeFileSync(svgPath, await renderSvg(chart.spec))
    paths.push(svgPath)
  }
  return paths
}
