import assert from 'node:assert/strict'
import { readFile, readdir, stat, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

import { OptionsError } from '../../lib/errors.js'
import { openDataDir } from '../../lib/persist/data-dir.js'
import { captureLogger, deadPid, removeTempDirs, tempDir } from './support.js'

const inUse = (pid: number) => (e: unknown) =>
  e instanceof OptionsError && e.field === 'dataDir' && e.message.includes(`is in use by process ${pid}`)

describe('persist/lock', () => {
  afterEach(removeTempDirs)

  it('a second open of one directory fails with an OptionsError while the first holds it', async () => {
    const dir = await tempDir()
    const d = await openDataDir(dir)
    await d.append('config', 'k', 1)
    assert.equal(await readFile(join(dir, 'lock'), 'utf8'), `${process.pid}\n`)
    assert.equal((await stat(join(dir, 'lock'))).mode & 0o777, 0o600)
    await assert.rejects(openDataDir(dir), inUse(process.pid))
    const link = join(await tempDir(), 'link')
    await symlink(dir, link)
    await assert.rejects(openDataDir(link), inUse(process.pid), 'through a symbolic link too')
    await d.close()
    assert.deepEqual(await readdir(dir), ['log'], 'close removes the lock')
    const again = await openDataDir(dir)
    assert.deepEqual(again.restored.config, [1])
    await again.close()
    await again.close()
  })

  it('takes over a stale lock whose process is gone, with a warning', async () => {
    const dir = await tempDir()
    const pid = deadPid()
    await writeFile(join(dir, 'lock'), `${pid}\n`)
    const { logger, warnings } = captureLogger()
    const d = await openDataDir(dir, { logger })
    assert.equal(await readFile(join(dir, 'lock'), 'utf8'), `${process.pid}\n`)
    assert.match(warnings.join('\n'), new RegExp(`stale lock .* of process ${pid}`))
    await d.close()
  })

  it('takes over a lock with its own pid that it does not hold (a restart that got the same pid)', async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'lock'), `${process.pid}\n`)
    const d = await openDataDir(dir)
    await d.close()
  })

  it("refuses a live process's lock, and one being written; takes over an old unreadable one", async () => {
    const dir = await tempDir()
    await writeFile(join(dir, 'lock'), `${process.ppid}\n`)
    await assert.rejects(openDataDir(dir), inUse(process.ppid))
    assert.equal(await readFile(join(dir, 'lock'), 'utf8'), `${process.ppid}\n`, 'the lock is left alone')

    await writeFile(join(dir, 'lock'), '')
    await assert.rejects(openDataDir(dir), (e: unknown) => e instanceof OptionsError && /being locked/.test(e.message))
    const old = new Date(Date.now() - 60_000)
    await utimes(join(dir, 'lock'), old, old)
    const d = await openDataDir(dir)
    await d.close()

    await writeFile(join(dir, 'lock'), 'not a pid')
    const e = await openDataDir(dir)
    await e.close()
  })
})
