// Lock exclusivity across processes: two child processes, ~20 concurrent claimers each, hammer the same few lock
// names (acquire / hold briefly / release, and sometimes abandon a short lease so it expires and is taken over).
// Every held interval is recorded; no two intervals of the same lock may overlap.
import t from 'tap'
import { testMongoUri, freshDbName } from '../helpers/harness.js'
import { spawnTs } from '../helpers/processes.js'
import { openDatabase } from '../../server/src/infra/db.js'
import type { HeldInterval } from '../helpers/lock-claimer.js'

t.test('two processes never hold the same lock at the same time', async (t) => {
  const uri = await testMongoUri(t)
  const dbName = freshDbName()
  const db = await openDatabase(uri, dbName) // creates the collections and indexes before the race starts
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const startAt = Date.now() + 6000 // both children start claiming at the same moment, after loading
  const children = ['p1', 'p2'].map((id) => spawnTs('test/helpers/lock-claimer.ts', {
    LOCK_CLAIMER_URI: uri, LOCK_CLAIMER_DB: dbName, LOCK_CLAIMER_ID: id, LOCK_CLAIMER_NAMES: 'lock-a,lock-b,lock-c',
    LOCK_CLAIMER_CLAIMERS: '20', LOCK_CLAIMER_RUN_MS: '5000', LOCK_CLAIMER_START_AT: String(startAt),
  }, { keepStdout: true }))
  t.teardown(() => { for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL') })
  const timeout = setTimeout(() => { for (const c of children) c.proc.kill('SIGKILL') }, 90_000)
  const codes = await Promise.all(children.map(async (c) => await c.exited))
  clearTimeout(timeout)
  t.same(codes, [0, 0], `both claimer processes finished: ${children.map((c) => c.output()).join(' | ')}`)
  const reports = children.map((c) => JSON.parse(c.stdout().trim().split('\n').pop()!) as { id: string; attempts: number; held: HeldInterval[] })
  const all = reports.flatMap((r) => r.held)
  t.comment(`attempts ${reports.map((r) => `${r.id}=${r.attempts}`).join(' ')}, held ${reports.map((r) => `${r.id}=${r.held.length}`).join(' ')}, abandoned ${all.filter((h) => h.abandoned).length}`)
  for (const r of reports) t.ok(r.held.length >= 5, `${r.id} held locks (${r.held.length})`)
  t.ok(all.filter((h) => h.abandoned).length > 0, 'some leases expired and were taken over')
  const overlaps: string[] = []
  for (const name of ['lock-a', 'lock-b', 'lock-c']) {
    const iv = all.filter((h) => h.name === name && h.end > h.start).sort((a, b) => a.start - b.start)
    t.ok(iv.length > 0, `${name} was held`)
    let prev: HeldInterval | null = null
    for (const h of iv) {
      // intervals are strictly inside the real holding periods, so with ms timestamps a clean hand-over may touch
      if (prev !== null && h.start < prev.end) overlaps.push(`${name}: ${prev.owner}${prev.abandoned ? " (abandoned lease)" : ""} [${prev.start},${prev.end}] overlaps ${h.owner} [${h.start},${h.end}]`)
      if (prev === null || h.end > prev.end) prev = h
    }
  }
  t.same(overlaps, [], 'no two holders of one lock overlap')
})
