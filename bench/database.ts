// The database a benchmark runs against: MONGODB_URI when set, else an embedded FerretDB (SQLite) in a temporary
// folder (LEADSCORE_FERRETDB_BIN picks its binary), removed by stop().
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startFerretDb } from '../server/src/infra/ferretdb.js'

export interface BenchDatabase {
  uri: string
  embedded: boolean
  /** How the benchmark's report names the database. */
  label: string
  stop(): Promise<void>
}

export async function benchDatabase (): Promise<BenchDatabase> {
  const uri = process.env.MONGODB_URI
  if (uri !== undefined) return { uri, embedded: false, label: 'MONGODB_URI', stop: async () => {} }
  const dir = mkdtempSync(join(tmpdir(), 'leadscore-bench-'))
  const ferret = await startFerretDb({ dataDir: dir, bin: process.env.LEADSCORE_FERRETDB_BIN })
  return {
    uri: ferret.uri,
    embedded: true,
    label: 'FerretDB 1.24 (SQLite), embedded',
    stop: async () => {
      await ferret.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
