/**
 * A compiled build of shoal in a temporary directory, for scenarios that run
 * agents as plain `node` processes (`embed`, `faults`): what a service that
 * installed the package loads, without tsx.
 *
 * - 'tsc': the package's own build (`tsc -p tsconfig.build.json`) into
 *   <tmp>/dist, exactly what `npm run build` ships.
 * - 'bundle': lib/index.ts bundled by esbuild (ESM, code splitting, minified;
 *   the faces' libraries left external), to measure what a bundled build
 *   would save. esbuild is not a dependency of shoal: it is used when
 *   resolvable (tsx brings it), otherwise the variant is skipped.
 * - an existing build: `--dist <path of index.js>`.
 *
 * <tmp> gets a package.json with "type": "module" and a node_modules symlink
 * to the repository's, so the build resolves its packages as installed.
 * remove() deletes the directory; callers call it in `finally`.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO_ROOT } from './udp-cluster.js'

export type BuildKind = 'tsc' | 'bundle'

export interface CompiledBuild {
  /** 'tsc', 'bundle', or the label given with --dist */
  kind: string
  /** absolute path of the build's index.js */
  entry: string
  /** what it is, for the notes */
  describe: string
  remove(): Promise<void>
}

/** external in the bundle: the faces' libraries, loaded only by an agent that asks for a face */
const BUNDLE_EXTERNAL = ['prom-client', 'dns-packet', 'htm']

function run(cmd: string, args: string[], cwd: string, limitMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    proc.stdout.on('data', (c: Buffer) => (output += c.toString()))
    proc.stderr.on('data', (c: Buffer) => (output += c.toString()))
    const timer = setTimeout(() => proc.kill('SIGKILL'), limitMs)
    proc.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    proc.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve()
      else reject(new Error(`${cmd} ${args.join(' ')} failed (code ${code}, signal ${signal}): ${output.slice(-2000)}`))
    })
  })
}

/** a temporary directory that resolves the repository's packages */
async function scratch(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'shoal-build', private: true, type: 'module' }))
  await symlink(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
  return dir
}

/** `--dist path` or `--dist label=path,label=path` (e.g. a build of main and one of a branch, side by side) */
export function givenBuilds(arg: string): CompiledBuild[] {
  return arg.split(',').map((item, i, all) => {
    const at = item.indexOf('=')
    const label = at > 0 ? item.slice(0, at) : all.length > 1 ? `given${i + 1}` : 'given'
    const entry = at > 0 ? item.slice(at + 1) : item
    if (!existsSync(entry)) throw new Error(`--dist ${entry}: no such file (build it with npm run build; pass the path of dist/index.js)`)
    return { kind: label, entry, describe: `the build given with --dist (${entry})`, remove: async () => {} }
  })
}

/** the part of esbuild's JS API used here (esbuild is not a dependency of shoal, so not its types either) */
interface Esbuild {
  version: string
  build(options: Record<string, unknown>): Promise<unknown>
}

/** esbuild's JS API when it can be resolved, else undefined */
async function loadEsbuild(): Promise<Esbuild | undefined> {
  try {
    // a variable: tsc must not look for the package
    const name = 'esbuild'
    return (await import(name)) as Esbuild
  } catch {
    return undefined
  }
}

export async function bundleAvailable(): Promise<boolean> {
  return (await loadEsbuild()) !== undefined
}

export async function compiledBuild(kind: BuildKind, progress: (m: string) => void): Promise<CompiledBuild> {
  const dir = await scratch(`shoal-${kind}-`)
  const remove = () => rm(dir, { recursive: true, force: true })
  try {
    if (kind === 'tsc') {
      progress(`building dist/ with tsc into ${dir} (about 20 s)`)
      const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
      await run(process.execPath, [tsc, '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', join(dir, 'dist'), '--declaration', 'false', '--sourceMap', 'false'], REPO_ROOT, 180_000)
      return { kind, entry: join(dir, 'dist', 'index.js'), describe: 'tsc -p tsconfig.build.json (what npm run build ships), in a temporary directory', remove }
    }
    const esbuild = await loadEsbuild()
    if (!esbuild) throw new Error('esbuild cannot be resolved (it is not a dependency of shoal)')
    progress(`bundling lib/index.ts with esbuild ${esbuild.version} into ${dir}`)
    await esbuild.build({
      entryPoints: [join(REPO_ROOT, 'lib', 'index.ts')],
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      minify: true,
      outdir: join(dir, 'bundle'),
      external: BUNDLE_EXTERNAL,
      logLevel: 'error',
    })
    return {
      kind,
      entry: join(dir, 'bundle', 'index.js'),
      describe: `esbuild ${esbuild.version}: lib/index.ts bundled (ESM, code splitting so the planes and faces stay in chunks loaded on demand, minified; ${BUNDLE_EXTERNAL.join(', ')} external)`,
      remove,
    }
  } catch (err) {
    await remove()
    throw err
  }
}
