// The policy by which a scoring backlog lets a burst of ingest go first (domain/workers/ingest-first.ts): who waits,
// how long, and that the deferral is bounded.
import t from 'tap'
import { createIngestFirst } from '../../server/src/domain/workers/ingest-first.js'

function setup (yieldMs = 1000) {
  const clock = { t: 10_000, busy: true }
  const policy = createIngestFirst({ yieldMs, backlog: 100, ingestBusy: () => clock.busy, now: () => clock.t })
  return { clock, policy }
}

t.test('a small backlog is scored at once, busy ingest or not', async (t) => {
  const { policy } = setup()
  t.equal(policy.waitMs(0), 0)
  t.equal(policy.waitMs(99), 0, 'one lead short of a backlog')
})

t.test('a backlog waits while ingest is busy, in short steps, for at most yieldMs from when it formed', async (t) => {
  const { clock, policy } = setup()
  const first = policy.waitMs(100)
  t.ok(first > 0 && first <= 10, `waits a short step (${first} ms)`)
  clock.t += 600
  t.ok(policy.waitMs(5000) > 0, 'still within the bound')
  clock.t += 395
  t.equal(policy.waitMs(5000), 5, 'the last step ends at the bound')
  clock.t += 5
  t.equal(policy.waitMs(5000), 0, 'at the bound: scoring runs although ingest is still busy')
  clock.t += 60_000
  t.equal(policy.waitMs(5000), 0, 'and keeps running while the same backlog lasts')
})

t.test('an idle ingest lets a backlog run; the bound still counts from when the backlog formed', async (t) => {
  const { clock, policy } = setup()
  t.ok(policy.waitMs(200) > 0)
  clock.busy = false
  clock.t += 500
  t.equal(policy.waitMs(200), 0, 'nothing to let go first')
  clock.busy = true
  clock.t += 499
  t.equal(policy.waitMs(200), 1, 'busy again: only what is left of the bound')
  clock.t += 1
  t.equal(policy.waitMs(200), 0)
})

t.test('a backlog that cleared and formed again gets the whole bound again', async (t) => {
  const { clock, policy } = setup()
  t.ok(policy.waitMs(300) > 0)
  clock.t += 2000
  t.equal(policy.waitMs(300), 0, 'past the bound')
  t.equal(policy.waitMs(10), 0, 'caught up')
  clock.t += 1
  t.ok(policy.waitMs(300) > 0, 'a new burst defers again')
})

t.test('yieldMs 0 never defers', async (t) => {
  const { policy } = setup(0)
  t.equal(policy.waitMs(1_000_000), 0)
})
