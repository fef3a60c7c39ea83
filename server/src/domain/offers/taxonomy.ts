import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** server/data, next to src and dist alike. */
export const TAXONOMY_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'data', 'industry-taxonomy.json')

/** The maintained industry list with adjacency (symmetric), looked up without regard to case. */
export interface IndustryTaxonomy {
  version: number
  /** Every industry, in the file's order. */
  industries: ReadonlyArray<{ name: string; adjacent: readonly string[] }>
  /** The taxonomy's spelling of an industry, or null when it is not listed. */
  canonical (name: string): string | null
  /** The industries next to `name` (empty for an unlisted one). */
  adjacent (name: string): readonly string[]
}

export const industryKey = (s: string): string => s.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim()

/**
 * Reads and checks the taxonomy: every industry named once, every adjacent industry listed. Throws at boot, not
 * per request, when the file is wrong. Adjacency is made symmetric, so the file may list a pair once.
 */
export function loadTaxonomy (file = TAXONOMY_FILE): IndustryTaxonomy {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown; industries?: unknown }
  if (typeof raw.version !== 'number' || !Array.isArray(raw.industries)) throw new Error(`${file}: expected { version, industries: [...] }`)
  const names = new Map<string, string>()
  for (const [i, x] of (raw.industries as unknown[]).entries()) {
    const e = x as { name?: unknown; adjacent?: unknown }
    if (typeof e.name !== 'string' || e.name.trim() === '' || !Array.isArray(e.adjacent) || !e.adjacent.every((a) => typeof a === 'string')) {
      throw new Error(`${file}: industries[${i}] must be { name, adjacent: string[] }`)
    }
    if (names.has(industryKey(e.name))) throw new Error(`${file}: industry '${e.name}' is listed twice`)
    names.set(industryKey(e.name), e.name.trim())
  }
  const adjacency = new Map<string, Set<string>>([...names.keys()].map((k) => [k, new Set<string>()]))
  for (const x of raw.industries as Array<{ name: string; adjacent: string[] }>) {
    const k = industryKey(x.name)
    for (const a of x.adjacent) {
      const ak = industryKey(a)
      if (!names.has(ak)) throw new Error(`${file}: '${x.name}' is next to '${a}', which is not a listed industry`)
      if (ak === k) continue
      adjacency.get(k)!.add(names.get(ak)!)
      adjacency.get(ak)!.add(names.get(k)!)
    }
  }
  const industries = [...names.entries()].map(([k, name]) => ({ name, adjacent: [...adjacency.get(k)!].sort((a, b) => a.localeCompare(b, 'en')) }))
  return {
    version: raw.version,
    industries,
    canonical: (name) => names.get(industryKey(name)) ?? null,
    adjacent: (name) => [...(adjacency.get(industryKey(name)) ?? [])],
  }
}
