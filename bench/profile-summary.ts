/**
 * Where the time goes in a V8 .cpuprofile (node --cpu-prof): busy time (idle excluded) by
 * package / area (self time), the top functions by self time, and the top functions by
 * inclusive time. Used by bench/run.ts (BENCH_CPU_PROF=1); also a CLI:
 *   npx tsx bench/profile-summary.ts bench/results/profiles/<file>.cpuprofile
 */
import { readFileSync, realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileRow { name: string, ms: number, percent: number }

export interface ProfileSummary {
  busyMs: number
  byArea: ProfileRow[]
  topSelf: ProfileRow[]
  topInclusive: ProfileRow[]
}

/** The package (node_modules/<pkg>), project file (src/…), node internal module, or V8 bucket of a frame. */
function area (frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame
  if (url === '') {
    if (functionName.startsWith('(')) return functionName === '(garbage collector)' ? 'GC' : `V8 ${functionName}`
    return 'native (builtins, C++)'
  }
  // bench/run.ts runs the project compiled to node_modules/.cache/r2-signer-bench/.
  const compiled = url.indexOf('/r2-signer-bench/')
  if (compiled >= 0) return 'r2-signer ' + url.slice(compiled + '/r2-signer-bench/'.length)
  const modules = url.lastIndexOf('/node_modules/')
  if (modules >= 0) {
    const [first = '', second = ''] = url.slice(modules + '/node_modules/'.length).split('/')
    return first.startsWith('@') ? `${first}/${second}` : first
  }
  if (url.startsWith('node:')) return 'node: ' + url.slice(5).split('/').slice(0, 2).join('/')
  const src = url.search(/\/(src|bench|test)\//)
  return src >= 0 ? 'r2-signer ' + url.slice(src + 1) : url
}

function label (frame: ProfileNode['callFrame']): string {
  const where = frame.url === '' ? '' : ` (${area(frame)}:${frame.lineNumber + 1})`
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName}${where}`
}

export function summarise (profile: Profile, top = 20): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const self = new Map<number, number>()
  // timeDeltas[i + 1] is the time until the sample after i: attribute it to sample i.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0))
  }
  const idle = [...byId.values()].filter((n) => n.callFrame.functionName === '(idle)').reduce((sum, n) => sum + (self.get(n.id) ?? 0), 0)
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const busy = Math.max(1, total - idle)

  const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us)
  const areas = new Map<string, number>()
  const selfByFunction = new Map<string, number>()
  for (const [id, us] of self) {
    const node = byId.get(id)
    if (node === undefined || node.callFrame.functionName === '(idle)') continue
    add(areas, area(node.callFrame), us)
    add(selfByFunction, label(node.callFrame), us)
  }

  // Inclusive time per function, counting a function once per stack (recursion is not doubled).
  const inclusive = new Map<string, number>()
  const parentOf = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id)
  for (const [id, us] of self) {
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const node = byId.get(at) as ProfileNode
      if (node.callFrame.functionName === '(idle)' || node.callFrame.functionName === '(root)') continue
      const name = label(node.callFrame)
      if (!seen.has(name)) { seen.add(name); add(inclusive, name, us) }
    }
  }

  const rows = (map: Map<string, number>, n: number): ProfileRow[] => [...map]
    .sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([name, us]) => ({ name, ms: Math.round(us / 100) / 10, percent: Math.round((us / busy) * 1000) / 10 }))
  return { busyMs: Math.round(busy / 1000), byArea: rows(areas, top), topSelf: rows(selfByFunction, top), topInclusive: rows(inclusive, top) }
}

export function formatSummary (s: ProfileSummary): string {
  const table = (title: string, rows: ProfileRow[]) =>
    [title, ...rows.map((r) => `  ${r.percent.toFixed(1).padStart(5)}%  ${String(r.ms).padStart(6)} ms  ${r.name}`)].join('\n')
  return [
    `busy ${s.busyMs} ms`,
    table('self time by area:', s.byArea),
    table('top functions, self time:', s.topSelf),
    table('top functions, inclusive time:', s.topInclusive)
  ].join('\n')
}

export function summariseProfile (file: string, top = 20): { data: ProfileSummary, text: string } {
  const data = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, top)
  return { data, text: formatSummary(data) }
}

const entry = process.argv[1]
if (entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href) {
  const file = process.argv[2]
  if (file === undefined) throw new Error('usage: tsx bench/profile-summary.ts <file.cpuprofile> [top]')
  console.log(summariseProfile(file, Number(process.argv[3] ?? 25)).text)
}
