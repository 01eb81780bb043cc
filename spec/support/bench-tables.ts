/** Reading a bench scenario's result tables in specs, with failures that say what was there. */
import assert from 'node:assert/strict'
import type { ScenarioResult, Table } from '../../bench/lib/scenario.js'

export function table(result: ScenarioResult, prefix: string): Table {
  const t = result.tables.find((x) => x.title.startsWith(prefix))
  assert.ok(t, `a table titled '${prefix}…' (have: ${result.tables.map((x) => x.title.slice(0, 40)).join(' | ')})`)
  return t
}

export function col(t: Table, name: string): number {
  const i = t.columns.indexOf(name)
  assert.ok(i >= 0, `column '${name}' in '${t.title.slice(0, 40)}…' (have ${t.columns.join(', ')})`)
  return i
}

export function cell(t: Table, row: number, name: string): string | number | null {
  return t.rows[row]![col(t, name)]!
}

export function num(t: Table, row: number, name: string): number {
  const v = cell(t, row, name)
  assert.equal(typeof v, 'number', `${t.title.slice(0, 30)}… row ${row} '${name}' is a number (got ${String(v)})`)
  assert.ok(Number.isFinite(v), `'${name}' is finite`)
  return v as number
}

/** open sockets, pipes and child processes by kind: a bench must leave no more than it found */
export function openHandles(): Map<string, number> {
  const m = new Map<string, number>()
  for (const r of process.getActiveResourcesInfo()) if (/UDP|TCP|Pipe|Process/.test(r)) m.set(r, (m.get(r) ?? 0) + 1)
  return m
}
