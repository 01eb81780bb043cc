import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { HttpError, notFound } from './http-error.js'
import { read, type Routes } from './route.js'

/** the dashboard's files, and what each is served as */
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
}
/** preact + htm in one module, from the htm package (no CDN, no build step) */
const VENDOR = 'vendor/htm-preact.js'

/** lib/ui beside lib/http when run from source, or the package's lib/ui beside dist/ */
function uiDir(): string {
  const here = dirname(fileURLToPath(import.meta.url))
  for (const dir of [join(here, '..', 'ui'), join(here, '..', '..', 'lib', 'ui')]) if (existsSync(join(dir, 'index.html'))) return dir
  throw new Error(`the dashboard's files are missing (looked beside ${here})`)
}

function vendorFile(): string {
  const htm = dirname(dirname(createRequire(import.meta.url).resolve('htm')))
  return join(htm, 'preact', 'standalone.module.js')
}

/** The dashboard at /ui/: a few static files, read once, served from memory. */
export function uiRoutes(router: Routes): void {
  let cache: Map<string, { body: Buffer; type: string }> | undefined
  const files = () => {
    if (!cache) {
      const dir = uiDir()
      cache = new Map(Object.entries(FILES).map(([name, type]) => [name, { body: readFileSync(join(dir, name)), type }]))
      cache.set(VENDOR, { body: readFileSync(vendorFile()), type: 'text/javascript; charset=utf-8' })
    }
    return cache
  }
  // the files first: '/ui' alone also matches '/ui/' (a trailing slash is tolerated)
  router.add(
    'GET',
    '/ui/*path',
    read(({ params }) => {
      const file = files().get(params.path === '' ? 'index.html' : params.path!)
      if (!file) throw notFound(`no such file: /ui/${params.path}`)
      return { raw: file.body, contentType: file.type, headers: { 'Cache-Control': 'no-cache' } }
    }),
  )
  router.add(
    'GET',
    '/ui',
    read(() => {
      throw new HttpError(301, 'moved to /ui/', { Location: '/ui/' })
    }),
  )
}
