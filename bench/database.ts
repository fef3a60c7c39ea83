// The database a benchmark runs against: MONGODB_URI when set, else an embedded FerretDB (SQLite) in a temporary
// folder (LEADSCORE_FERRETDB_BIN picks its binary), removed by stop().
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { MongoClient, CommandStartedEvent, CommandSucceededEvent } from 'mongodb'
import { startFerretDb } from '../server/src/infra/ferretdb.js'
import { pidsOf, processCpuSeconds } from './cpu.js'

export interface BenchDatabase {
  uri: string
  embedded: boolean
  /** How the benchmark's report names the database. */
  label: string
  /** CPU seconds the embedded database's processes have used so far (null for MONGODB_URI, or without /proc). */
  cpuSeconds(): number | null
  stop(): Promise<void>
}

export async function benchDatabase (): Promise<BenchDatabase> {
  const uri = process.env.MONGODB_URI
  if (uri !== undefined) return { uri, embedded: false, label: 'MONGODB_URI', cpuSeconds: () => null, stop: async () => {} }
  const dir = mkdtempSync(join(tmpdir(), 'leadscore-bench-'))
  const ferret = await startFerretDb({ dataDir: dir, bin: process.env.LEADSCORE_FERRETDB_BIN })
  return {
    uri: ferret.uri,
    embedded: true,
    label: 'FerretDB 1.24 (SQLite), embedded',
    // FerretDB and the shell that guards it (which uses next to nothing) name the folder on their command lines
    cpuSeconds: () => {
      const times = pidsOf(`--state-dir=${dir}`).map(processCpuSeconds)
      return times.length === 0 || times.includes(null) ? null : times.reduce<number>((a, b) => a + b!, 0)
    },
    stop: async () => {
      await ferret.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Whether a benchmark should record what its database commands cost (BENCH_COMMANDS=1). */
export const recordCommands = process.env.BENCH_COMMANDS === '1'

/** How a find names its documents: by one `_id`, an `_id` list, an `_id` range, or a query on other fields. */
function filterShape (filter: Record<string, unknown> | undefined): string {
  const keys = Object.keys(filter ?? {})
  if (keys.length === 0) return 'all'
  if (keys.length > 1 || keys[0] !== '_id') return 'query'
  const id = filter!._id
  if (typeof id !== 'object' || id === null) return '_id'
  return '$in' in id ? '_id list' : '_id range'
}

/**
 * Records every command a client (opened with `monitorCommands`) sends: per command and collection, how many, the
 * documents they carried (inserts, update and delete statements) and their summed duration as the driver saw it
 * (concurrent commands overlap, so the sum can exceed the wall time; the shares still show where the database's time
 * goes). `report()` returns the 25 costliest lines.
 */
export function commandCosts (client: MongoClient): { report: () => string } {
  const open = new Map<number, { key: string; docs: number }>()
  const totals = new Map<string, { n: number; docs: number; ms: number }>()
  client.on('commandStarted', (e: CommandStartedEvent) => {
    const target = e.command[e.commandName] as unknown
    const list = (e.command.documents ?? e.command.updates ?? e.command.deletes) as unknown[] | undefined
    const shape = e.commandName === 'find' ? ` (${filterShape(e.command.filter as Record<string, unknown> | undefined)})` : ''
    open.set(e.requestId, { key: `${e.commandName} ${typeof target === 'string' ? target : ''}${shape}`.trim(), docs: list?.length ?? 0 })
  })
  client.on('commandSucceeded', (e: CommandSucceededEvent) => {
    const o = open.get(e.requestId)
    if (o === undefined) return
    open.delete(e.requestId)
    const t = totals.get(o.key) ?? { n: 0, docs: 0, ms: 0 }
    t.n++
    t.docs += o.docs
    t.ms += e.duration
    totals.set(o.key, t)
  })
  return {
    report: () => [...totals].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25)
      .map(([k, t]) => `${k.padEnd(40)} ${String(t.n).padStart(7)} commands ${String(t.docs).padStart(8)} documents ${t.ms.toFixed(0).padStart(8)} ms`).join('\n'),
  }
}
