// Segment's official Node client (@segment/analytics-node) pointed at a Segment-compatible source over real HTTP:
// 10,000 track, identify and page calls become exactly 10,000 stored events, one per messageId the client made up,
// with nothing rejected and nothing stored twice.
import t from 'tap'
import { Analytics } from '@segment/analytics-node'
import { buildTestApp } from '../helpers/harness.js'
import { createSource, listen, waitForStats } from '../helpers/sources.js'

const CALLS = 10_000
const USERS = 250

t.test('10,000 calls from the official Segment client are 10,000 events', { timeout: 600_000 }, async (t) => {
  // scoring off: this is about what arrives; the scoring of Segment events is covered in segment.test.ts
  const { app, db } = await buildTestApp(t, { LEADSCORE_WORKER: '0' })
  const base = await listen(app)
  const src = await createSource(app, { type: 'segment', name: 'website' })
  // the client resolves `path` against `host` as a URL, so the source's path goes in `path`, not at the end of `host`
  const analytics = new Analytics({ writeKey: src.secretValues.writeKey as string, host: base, path: `/v1/sources/${src.id as string}/segment/v1/batch`,
    // the client sends every full batch at once, without a concurrency limit: larger batches and a longer timeout
    // than its defaults (15 messages, 10 s) keep 10,000 calls from becoming hundreds of simultaneous requests
    flushAt: 250, httpRequestTimeout: 180_000, maxRetries: 5,
  })
  const errors: unknown[] = []
  analytics.on('error', (err) => { errors.push(err) })
  const counts = { track: 0, identify: 0, page: 0 }
  for (let i = 0; i < CALLS; i++) {
    const u = i % USERS
    const userId = `user-${u}`
    const traits = { email: `user${u}@segment.example`, plan: u % 3 === 0 ? 'pro' : 'free' }
    if (i % 10 === 0) {
      analytics.identify({ userId, traits })
      counts.identify++
    } else if (i % 10 < 4) {
      analytics.page({ userId, name: 'Pricing', properties: { path: '/pricing', i }, context: { traits } })
      counts.page++
    } else {
      analytics.track({ userId, event: i % 2 === 0 ? 'Email Opened' : 'Form Submitted', properties: { i }, context: { traits } })
      counts.track++
    }
  }
  await analytics.closeAndFlush({ timeout: 500_000 })
  t.equal(errors.length, 0, `the client reported no delivery error${errors.length > 0 ? ` (${errors.length}; the first: ${JSON.stringify(errors[0], (_k, v: unknown) => v instanceof Error ? v.message : v).slice(0, 600)})` : ''}`)

  const stored = await db.c.events.countDocuments({ sourceId: src.id })
  t.equal(stored, CALLS, `${CALLS} calls, ${stored} events stored`)
  const ids = await db.c.events.distinct('externalId', { sourceId: src.id })
  t.equal(ids.length, CALLS, 'one event per messageId')
  t.equal(await db.c.ingestRejects.countDocuments({ sourceId: src.id }), 0, 'nothing rejected')
  t.equal(await db.c.events.countDocuments({ sourceId: src.id, type: 'page_view' }), counts.page, 'page calls are page views')
  t.equal(await db.c.events.countDocuments({ sourceId: src.id, type: 'identify' }), counts.identify, 'identify calls')
  t.equal(await db.c.events.countDocuments({ sourceId: src.id, type: { $in: ['email_opened', 'form_submitted'] } }), counts.track, 'track calls under their snake_case names')
  const stats = await waitForStats(app, src.id as string, (s) => s.accepted === CALLS)
  t.match(stats, { accepted: CALLS, duplicates: 0, rejected: 0 }, 'the source counted each call once')
  t.equal(await db.c.leads.countDocuments({}), USERS, 'one lead per user')
})
