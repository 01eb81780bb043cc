// Appends per second through a data directory's group commit, for 1 and 64
// concurrent writers each awaiting its previous append (config writes of
// about 200 bytes, every one fsync'ed). Run: npx tsx spec/persist/append-rate.ts [seconds]
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { openDataDir } from '../../lib/persist/data-dir.js'

const seconds = Number(process.argv[2] ?? 3)

async function measure(writers: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-append-rate-'))
  const d = await openDataDir(dir)
  const end = performance.now() + seconds * 1000
  let appends = 0
  const start = performance.now()
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    for (let i = 0; performance.now() < end; i++) {
      await d.append('config', `${w}-${i}`, { key: `app/setting-${i % 100}`, version: 1_700_000_000_000 + i, writer: `agent-${w}`, time: Date.now(), value: JSON.stringify({ limit: i, note: 'x'.repeat(64) }) })
      appends++
    }
  }))
  const elapsed = (performance.now() - start) / 1000
  const { fsyncs, compactions } = d.stats
  await d.close()
  await rm(dir, { recursive: true })
  console.log(`${String(writers).padStart(2)} writer(s): ${Math.round(appends / elapsed)} appends/s, ${Math.round(fsyncs / elapsed)} fsyncs/s, ${(appends / fsyncs).toFixed(1)} appends per fsync, ${compactions} compactions`)
}

for (const writers of [1, 64]) await measure(writers)
