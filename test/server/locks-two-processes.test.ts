// Lock exclusivity across processes: two child processes, ~20 concurrent claimers each, hammer the same few lock
// names (acquire / hold briefly / release, and sometimes abandon a short lease so it expires and is taken over).
// Every held interval is recorded; no two intervals of the same lock may overlap.
import t from 'tap'
import { testMongoUri, freshDbName } from '../helpers/harness.js'
import { spawnTs } from '../helpers/processes.js'
import { openDatabase } from '../../server/src/infra/db.js'
import { createLockService, TAKEOVER_GUARD_MS } from '../../server/src/domain/locks.js'
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
      if (prev !== null && h.start < prev.end) overlaps.push(`${name}: ${prev.owner}${prev.abandoned ? ' (abandoned lease)' : ''} [${prev.start},${prev.end}] overlaps ${h.owner} [${h.start},${h.end}]`)
      if (prev === null || h.end > prev.end) prev = h
    }
  }
  t.same(overlaps, [], 'no two holders of one lock overlap')
})

t.test('a takeover whose update has not landed yet keeps the lock from a second taker', async (t) => {
  const db = await openDatabase(await testMongoUri(t), freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const locks = createLockService(db.c.locks, () => new Date())
  const now = Date.now()
  // a lease that ran out, and the marker of the claimer that won its takeover but whose update is still on its way
  const expired = new Date(now - 5_000)
  await db.c.locks.insertOne({ _id: 'slow', owner: 'gone', expiresAt: expired, acquiredAt: new Date(now - 35_000) })
  const marker = `~takeover:slow:gone:${expired.getTime()}`
  await db.c.locks.insertOne({ _id: marker, owner: 'winner', expiresAt: new Date(now - 2_000), acquiredAt: new Date(now - 2_000) })
  // claimers with a lease much shorter than the winner's delay must neither clear its marker nor take the lock
  for (let i = 0; i < 3; i++) t.equal(await locks.acquire('slow', `short-${i}`, 300), false, `short-lease claimer ${i} refused`)
  t.equal((await db.c.locks.findOne({ _id: marker }))?.owner, 'winner', 'the winner keeps its marker')
  t.equal((await db.c.locks.findOne({ _id: 'slow' }))?.owner, 'gone', 'nobody else took the lease over')
  // a winner that stopped for good: once its marker is older than the guard, the lock can be taken again
  await db.c.locks.updateOne({ _id: marker }, { $set: { acquiredAt: new Date(now - TAKEOVER_GUARD_MS - 1_000) } })
  t.equal(await locks.acquire('slow', 'next', 300), false, 'the attempt that finds the stale marker clears it')
  t.equal(await db.c.locks.findOne({ _id: marker }), null, 'stale marker cleared')
  t.equal(await locks.acquire('slow', 'next', 300), true, 'the next attempt takes the lock over')
  t.equal((await db.c.locks.findOne({ _id: 'slow' }))?.owner, 'next')
})

t.test('purging keeps young markers and takes abandoned leases over before removing them', async (t) => {
  const db = await openDatabase(await testMongoUri(t), freshDbName())
  t.teardown(async () => { await db.db.dropDatabase().catch(() => undefined); await db.close() })
  const locks = createLockService(db.c.locks, () => new Date())
  const now = Date.now()
  const hoursAgo = (h: number): Date => new Date(now - h * 3_600_000)
  await db.c.locks.insertMany([
    { _id: 'abandoned', owner: 'dead', expiresAt: hoursAgo(2), acquiredAt: hoursAgo(2) },
    { _id: 'recent', owner: 'dead', expiresAt: hoursAgo(0.5), acquiredAt: hoursAgo(0.5) },
    { _id: 'held', owner: 'alive', expiresAt: new Date(now + 30_000), acquiredAt: new Date(now) },
    // a marker taken a moment ago for a lease that expired long ago: its winner may still be updating
    { _id: `~takeover:old:dead:${hoursAgo(3).getTime()}`, owner: 'w1', expiresAt: new Date(now - 1_000), acquiredAt: new Date(now - 1_000) },
    { _id: `~takeover:older:dead:${hoursAgo(5).getTime()}`, owner: 'w2', expiresAt: hoursAgo(4), acquiredAt: hoursAgo(4) },
    // a revision claim is scoring's to purge: it may be the sign of a batch still to finish (event-status.test.ts)
    { _id: 'commit:lead_1:7', owner: 'run', expiresAt: hoursAgo(3), acquiredAt: hoursAgo(3) },
  ])
  t.equal(await locks.purgeExpired(hoursAgo(1)), 2, 'the abandoned lease and the old marker')
  const left = (await db.c.locks.find({}).toArray()).map((d) => d._id).filter((id) => !id.startsWith('~takeover:abandoned:'))
  t.same(left.sort(), ['held', 'recent', `~takeover:old:dead:${hoursAgo(3).getTime()}`, 'commit:lead_1:7'].sort(), 'young markers, live leases and the revision claim stay')
  t.equal(await locks.acquire('abandoned', 'new', 1_000), true, 'the purged lock is free')
})
