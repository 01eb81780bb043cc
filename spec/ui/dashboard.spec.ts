import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'

import { createAgent, type Agent } from '../../lib/index.js'
import { stopAll } from '../support/mesh.js'
import { waitFor } from '../support/wait.js'

const CHROMIUM = '/usr/bin/chromium'
/** where the spec leaves its screenshot (gitignored) */
const ARTIFACTS = join(process.cwd(), 'artifacts')

/**
 * The dashboard in a real browser (Debian's Chromium through
 * playwright-core), over a real mesh: it lists every member, turns a killed
 * agent dead without a reload, shows a check going critical, and a rollback
 * clicked in the page reaches every agent.
 */
describe('dashboard in headless Chromium (4 agents on 127.0.0.1)', function () {
  this.timeout(90_000)
  let agents: Agent[] = []
  let browser: Browser
  let page: Page
  const reloads: string[] = []

  before(async () => {
    const options = { bind: { host: '127.0.0.1', port: 0 }, profile: 'local' as const, stream: false as const }
    const a = await createAgent({ ...options, name: 'ui-a', http: { port: 0 }, secrets: { keys: [randomBytes(32).toString('base64')] } })
    const rest = await Promise.all(['ui-b', 'ui-c', 'ui-d'].map((name) => createAgent({ ...options, name, seeds: [a.address] })))
    agents = [a, ...rest]
    await waitFor(() => agents.every((x) => x.members().filter((m) => m.state === 'alive').length === 4), 'four alive members')
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] })
    page = await browser.newPage()
    page.on('framenavigated', (f) => f === page.mainFrame() && reloads.push(f.url()))
    await page.goto(`http://${a.httpAddress}/ui/`)
  })
  after(async () => {
    await browser?.close()
    await stopAll(agents)
  })

  const memberState = (name: string) => page.locator(`tr[data-member="${name}"]`).getAttribute('data-state', { timeout: 1000 }).catch(() => null)

  it('lists every member, alive, with its address', async () => {
    await page.waitForSelector('tr[data-member="ui-d"]', { timeout: 15_000 })
    for (const a of agents) {
      assert.equal(await memberState(a.name), 'alive')
      assert.ok((await page.locator(`tr[data-member="${a.name}"]`).innerText()).includes(a.address))
    }
    assert.equal(await page.locator('#conn').innerText(), '● live')
  })

  it('shows an instance and its check going critical, live', async () => {
    const b = agents[1]!
    const reg = await b.register({ name: 'pricing', id: 'pricing-1', port: 9100, version: '2.3.1', zone: 'eu-1', tags: ['fast'], checks: [{ ttl: 60_000, name: 'heartbeat', initialStatus: 'passing' }] })
    const row = page.locator('tr[data-instance="pricing-1"]')
    await row.waitFor({ timeout: 15_000 })
    await page.waitForSelector('tr[data-instance="pricing-1"][data-status="passing"]', { timeout: 15_000 })
    assert.match(await row.innerText(), /2\.3\.1 · eu-1/)
    reg.fail('disk full')
    await page.waitForSelector('tr[data-instance="pricing-1"][data-status="critical"]', { timeout: 15_000 })
    assert.match(await row.locator('.check[data-check="heartbeat"]').innerText(), /critical[\s\S]*disk full/)
  })

  it('a rollback clicked in the page reaches every agent; a secret shows redacted', async () => {
    const a = agents[0]!
    const first = await a.config.set('pricing/spread-bps', 12)
    await a.config.set('pricing/spread-bps', 15)
    await page.waitForSelector('tr[data-key="pricing/spread-bps"]', { timeout: 15_000 })
    await waitFor(() => agents.every((x) => x.config.value('pricing/spread-bps') === 15), 'every agent at 15')
    await page.locator('button[data-history="pricing/spread-bps"]').click()
    await page.locator(`button[data-rollback="${first.version}"]`).click({ timeout: 15_000 })
    await waitFor(() => agents.every((x) => x.config.value('pricing/spread-bps') === 12), 'the rollback at every agent', { timeout: 20_000 })
    const value = page.locator('tr[data-key="pricing/spread-bps"] td[data-value]')
    await page.waitForFunction(`document.querySelector('tr[data-key="pricing/spread-bps"] td[data-value]')?.textContent === '12'`, undefined, { timeout: 15_000 })
    assert.equal(await value.innerText(), '12')
    const history = (await a.config.history('pricing/spread-bps'))[0]!
    assert.equal(history.rollbackOf, first.version, 'the click made a rollback write')
    await a.config.set('db/password', 's3cret-value', { secret: true })
    await page.waitForSelector('tr[data-key="db/password"]', { timeout: 15_000 })
    assert.equal(await page.locator('tr[data-key="db/password"] td[data-value]').innerText(), '(secret, redacted)')
    await page.locator('button[data-history="db/password"]').click()
    await page.waitForSelector('table.history', { timeout: 15_000 })
    assert.ok(!(await page.content()).includes('s3cret-value'), 'the secret is nowhere in the page')
  })

  it('a killed agent turns dead on screen without a reload, within a second of the agent learning it', async () => {
    const a = agents[0]!
    const victim = agents[3]!
    let learnt = 0
    a.once('member:failed', (m) => m.name === victim.name && (learnt = Date.now()))
    await victim.stop({ leave: false })
    await page.waitForSelector(`tr[data-member="${victim.name}"][data-state="dead"]`, { timeout: 45_000 })
    const shown = Date.now()
    assert.ok(learnt > 0, 'the agent learnt the death first')
    assert.ok(shown - learnt < 1000, `dead on screen ${shown - learnt} ms after the agent learnt it`)
    assert.equal(reloads.length, 1, `no reload: ${reloads.join(', ')}`)
    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true })
  })
})
