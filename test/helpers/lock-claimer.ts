// Child-process script for test/server/locks-two-processes.test.ts: CLAIMERS concurrent claimers loop acquire /
// hold briefly / release (sometimes abandon, letting a short lease expire) on a few lock names, then print every held
// interval as one JSON line. Does nothing unless LOCK_CLAIMER_URI is set (so a test runner globbing helpers is safe).
import { openDatabase } from '../../server/src/infra/db.js'
import { createLockService } from '../../server/src/domain/locks.js'

export interface HeldInterval { name: string; owner: string; start: number; end: number; abandoned: boolean }

const uri = process.env.LOCK_CLAIMER_URI
if (uri !== undefined) {
  const db = await openDatabase(uri, process.env.LOCK_CLAIMER_DB!)
  const locks = createLockService(db.c.locks, () => new Date())
  const id = process.env.LOCK_CLAIMER_ID ?? String(process.pid)
  const names = (process.env.LOCK_CLAIMER_NAMES ?? 'a,b,c').split(',')
  const claimers = Number(process.env.LOCK_CLAIMER_CLAIMERS ?? 20)
  const runMs = Number(process.env.LOCK_CLAIMER_RUN_MS ?? 4000)
  const startAt = Number(process.env.LOCK_CLAIMER_START_AT ?? Date.now())
  const LONG_TTL = 30_000
  const SHORT_TTL = 300
  const held: HeldInterval[] = []
  let attempts = 0
  const sleep = async (ms: number): Promise<void> => await new Promise((r) => setTimeout(r, ms))
  await sleep(Math.max(0, startAt - Date.now()))
  const deadline = Date.now() + runMs
  await Promise.all(Array.from({ length: claimers }, async (_, c) => {
    for (let n = 0; Date.now() < deadline; n++) {
      const name = names[Math.floor(Math.random() * names.length)]!
      const owner = `${id}:${c}:${n}`
      const abandon = Math.random() < 0.15
      const ttl = abandon ? SHORT_TTL : LONG_TTL
      const asked = Date.now() // <= the time acquire() stamps, so asked + ttl is never after the real expiry
      attempts++
      if (!await locks.acquire(name, owner, ttl)) { await sleep(Math.random() * 5); continue }
      const start = Date.now() // >= the moment the lock became ours
      await sleep(Math.random() * 8)
      if (abandon) {
        // never released: held until the lease runs out
        held.push({ name, owner, start, end: asked + ttl, abandoned: true })
        continue
      }
      const end = Math.min(Date.now(), asked + ttl) // <= the moment we give it up
      await locks.release(name, owner)
      held.push({ name, owner, start, end, abandoned: false })
    }
  }))
  process.stdout.write(JSON.stringify({ id, attempts, held }) + '\n')
  await db.close()
}
