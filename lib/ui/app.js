// The shoal dashboard: preact + htm with no build step, served by the HTTP
// face at /ui/. It loads the mesh once, then follows /v1/shoal/events (server-sent
// events) and changes what it shows as the agent learns it: no polling, no reload.
import { html, render, useEffect, useReducer, useState } from './vendor/htm-preact.js'

const token = new URLSearchParams(location.search).get('token')
const withToken = (path) => (token ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}` : path)
const api = async (path, init) => {
  const r = await fetch(withToken(path), init)
  if (!r.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${await r.text()}`)
  return r.headers.get('content-type')?.startsWith('application/json') ? r.json() : r.text()
}
const seg = (s) => s.split('/').map(encodeURIComponent).join('/')

const initial = { self: '', members: {}, services: {}, deps: { services: {}, cycles: [] }, config: {}, events: [], live: false }

function reducer(state, a) {
  switch (a.type) {
    case 'load':
      return { ...state, ...a.data }
    case 'member':
      return { ...state, members: { ...state.members, [a.member.name]: a.member } }
    case 'reap': {
      const members = { ...state.members }
      delete members[a.name]
      return { ...state, members }
    }
    case 'service':
      return { ...state, services: { ...state.services, [a.service]: a.instances } }
    case 'deps':
      return { ...state, deps: a.deps }
    case 'config': {
      const config = { ...state.config }
      if (a.entry) config[a.key] = a.entry
      else delete config[a.key]
      return { ...state, config }
    }
    case 'event':
      return { ...state, events: [a.event, ...state.events].slice(0, 50) }
    case 'live':
      return { ...state, live: a.live }
    default:
      return state
  }
}

async function loadAll() {
  const [self, members, counts, deps, entries, events] = await Promise.all([
    api('/v1/agent/self'),
    api('/v1/shoal/members'),
    api('/v1/shoal/services'),
    api('/v1/shoal/dependencies'),
    api('/v1/shoal/config/entries/'),
    api('/v1/event/list'),
  ])
  const services = {}
  await Promise.all(Object.keys(counts).map(async (s) => (services[s] = await api(`/v1/shoal/instances/${seg(s)}`))))
  return {
    self: self.Config.NodeName,
    members: Object.fromEntries(members.map((m) => [m.name, m])),
    services,
    deps,
    config: Object.fromEntries(entries.map((e) => [e.key, e])),
    events: events.reverse().map((e) => ({ name: e.Name, origin: e.Origin, ltime: e.LTime, id: e.ID, payload: e.Payload })),
  }
}

function useMesh() {
  const [state, dispatch] = useReducer(reducer, initial)
  useEffect(() => {
    let closed = false
    const refresh = () => loadAll().then((data) => !closed && dispatch({ type: 'load', data }), () => {})
    const source = new EventSource(withToken('/v1/shoal/events'))
    source.onopen = () => {
      dispatch({ type: 'live', live: true })
      refresh()
    }
    source.onerror = () => dispatch({ type: 'live', live: false })
    for (const kind of ['join', 'update', 'suspect', 'alive', 'failed', 'leave']) {
      source.addEventListener(`member:${kind}`, (e) => dispatch({ type: 'member', member: JSON.parse(e.data) }))
    }
    source.addEventListener('member:reap', (e) => dispatch({ type: 'reap', name: JSON.parse(e.data).name }))
    source.addEventListener('service:change', (e) => {
      const { service, instances } = JSON.parse(e.data)
      dispatch({ type: 'service', service, instances })
      api('/v1/shoal/dependencies').then((deps) => dispatch({ type: 'deps', deps }), () => {})
    })
    source.addEventListener('health:change', (e) => {
      const { service } = JSON.parse(e.data)
      api(`/v1/shoal/instances/${seg(service)}`).then((instances) => dispatch({ type: 'service', service, instances }), () => {})
      api('/v1/shoal/dependencies').then((deps) => dispatch({ type: 'deps', deps }), () => {})
    })
    source.addEventListener('config:change', (e) => {
      const { key, entry } = JSON.parse(e.data)
      dispatch({ type: 'config', key, entry })
    })
    source.addEventListener('event', (e) => dispatch({ type: 'event', event: JSON.parse(e.data) }))
    return () => {
      closed = true
      source.close()
    }
  }, [])
  return state
}

const Badge = ({ s }) => html`<span class=${`badge s-${s}`}>${s}</span>`
const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0)

function Members({ members, self }) {
  const list = Object.values(members).sort((a, b) => byName(a.name, b.name))
  return html`<section id="members">
    <h2>Members <span class="muted">${list.filter((m) => m.state === 'alive').length} alive of ${list.length}</span></h2>
    <table>
      <thead><tr><th>name</th><th>state</th><th>address</th><th>RTT</th><th>meta</th></tr></thead>
      <tbody>
        ${list.map(
          (m) => html`<tr data-member=${m.name} data-state=${m.state}>
            <td>${m.name}${m.name === self ? html` <span class="muted">(this agent)</span>` : ''}</td>
            <td><${Badge} s=${m.state} /></td>
            <td><code>${m.address}</code></td>
            <td class="num">${m.rtt === undefined ? '' : `${m.rtt.toFixed(1)} ms`}</td>
            <td>${Object.entries(m.meta).map(([k, v]) => html`<span class="tag">${k}=${v}</span>`)}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </section>`
}

function Services({ services }) {
  const names = Object.keys(services).filter((s) => services[s].length > 0).sort(byName)
  return html`<section id="services">
    <h2>Services <span class="muted">${names.length}</span></h2>
    ${names.length === 0 ? html`<p class="muted">no service registered</p>` : ''}
    ${names.map(
      (name) => html`<div class="service" data-service=${name}>
        <h3>${name} <span class="muted">${services[name].filter((i) => i.status === 'passing').length}/${services[name].length} passing</span></h3>
        <table>
          <thead><tr><th>instance</th><th>status</th><th>node · address</th><th>version · zone</th><th>tags</th><th>checks</th></tr></thead>
          <tbody>
            ${services[name].map(
              (i) => html`<tr data-instance=${i.id} data-status=${i.status}>
                <td>${i.id}</td>
                <td><${Badge} s=${i.status} /></td>
                <td>${i.node} · <code>${i.address}:${i.port}</code></td>
                <td>${i.version ?? ''}${i.zone ? ` · ${i.zone}` : ''}</td>
                <td>${i.tags.map((t) => html`<span class="tag">${t}</span>`)}</td>
                <td>${i.checks.map((c) => html`<div class="check" data-check=${c.name} data-status=${c.status}><${Badge} s=${c.status} /> ${c.name}${c.output ? html`<pre>${c.output}</pre>` : ''}</div>`)}</td>
              </tr>`,
            )}
          </tbody>
        </table>
      </div>`,
    )}
  </section>`
}

function Dependencies({ deps }) {
  const edges = Object.entries(deps.services).flatMap(([from, list]) => list.map((d) => ({ from, to: d.service, available: d.available })))
  return html`<section id="dependencies">
    <h2>Dependencies</h2>
    ${edges.length === 0 ? html`<p class="muted">no service declares dependsOn</p>` : ''}
    <table>
      <tbody>
        ${edges.map((e) => html`<tr data-edge=${`${e.from}->${e.to}`}><td>${e.from}</td><td>→</td><td>${e.to}</td><td><${Badge} s=${e.available ? 'passing' : 'critical'} /></td></tr>`)}
      </tbody>
    </table>
    ${deps.cycles.map((c) => html`<p class="error">cycle: ${c.join(' → ')}</p>`)}
  </section>`
}

const show = (e) => (e.deleted ? html`<span class="muted">(deleted)</span>` : e.secret ? html`<span class="muted">(secret, redacted)</span>` : html`<code>${JSON.stringify(e.value)}</code>`)

function History({ entry }) {
  const [history, setHistory] = useState(undefined)
  const [error, setError] = useState('')
  const env = entry.environment ? `?environment=${encodeURIComponent(entry.environment)}` : ''
  const load = () => api(`/v1/shoal/config/history/${seg(entry.key)}${env}`).then(setHistory, (e) => setError(String(e.message)))
  useEffect(() => {
    load()
  }, [entry.version])
  const rollback = (version) =>
    api(`/v1/shoal/config/rollback/${seg(entry.key)}?version=${version}${entry.environment ? `&environment=${encodeURIComponent(entry.environment)}` : ''}`, { method: 'PUT' }).then(load, (e) => setError(String(e.message)))
  if (!history) return html`<p class="muted">${error || 'loading…'}</p>`
  return html`<table class="history">
    <tbody>
      ${history.map(
        (h, n) => html`<tr data-version=${h.version}>
          <td class="num">${h.version}</td><td>${show(h)}</td><td>${h.writer}</td><td>${new Date(h.time).toLocaleTimeString()}</td>
          <td>${n > 0 && !h.deleted ? html`<button data-rollback=${h.version} onClick=${() => rollback(h.version)}>rollback</button>` : n === 0 ? html`<span class="muted">current</span>` : ''}</td>
        </tr>`,
      )}
    </tbody>
  </table>${error ? html`<p class="error">${error}</p>` : ''}`
}

function Config({ config }) {
  const [open, setOpen] = useState('')
  const keys = Object.keys(config).sort(byName)
  return html`<section id="config">
    <h2>Configuration <span class="muted">${keys.length} keys</span></h2>
    <table>
      <thead><tr><th>key</th><th>value</th><th>version</th><th>writer</th><th></th></tr></thead>
      <tbody>
        ${keys.map((k) => {
          const e = config[k]
          return html`<tr data-key=${k}>
              <td><code>${k}</code>${e.environment ? html` <span class="tag">${e.environment}</span>` : ''}</td>
              <td data-value>${show(e)}</td>
              <td class="num">${e.version}</td>
              <td>${e.writer}</td>
              <td><button data-history=${k} onClick=${() => setOpen(open === k ? '' : k)}>${open === k ? 'hide' : 'history'}</button></td>
            </tr>
            ${open === k ? html`<tr><td colspan="5"><${History} entry=${e} /></td></tr>` : ''}`
        })}
      </tbody>
    </table>
  </section>`
}

function Events({ events }) {
  return html`<section id="events">
    <h2>Recent events</h2>
    ${events.length === 0 ? html`<p class="muted">none yet</p>` : ''}
    <table>
      <tbody>
        ${events.map((e) => html`<tr data-event=${e.id}><td>${e.name}</td><td>from ${e.origin}</td><td class="num">t=${e.ltime}</td><td><code>${typeof e.payload === 'string' ? e.payload.slice(0, 80) : JSON.stringify(e.payload)?.slice(0, 80)}</code></td></tr>`)}
      </tbody>
    </table>
  </section>`
}

function App() {
  const s = useMesh()
  return html`<header>
      <h1>shoal</h1>
      <span>agent <b>${s.self}</b></span>
      <span class=${`conn ${s.live ? 'live' : 'down'}`} id="conn">${s.live ? '● live' : '○ reconnecting'}</span>
    </header>
    <main>
      <${Members} members=${s.members} self=${s.self} />
      <${Services} services=${s.services} />
      <${Dependencies} deps=${s.deps} />
      <${Config} config=${s.config} />
      <${Events} events=${s.events} />
    </main>`
}

const root = document.getElementById('app')
root.textContent = ''
render(html`<${App} />`, root)
