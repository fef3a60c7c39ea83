import t from 'tap'
import { bucketPoints, endOfDayUtc, trendEnd } from '../../console/src/lib/charts/trend.js'

t.test('trend buckets become chart points at their start with their end values', async (t) => {
  const pts = bucketPoints([
    { start: '2025-01-01T00:00:00.000Z', score: 50, engagement: 50, fit: 0, intent: 0 },
    { start: '2025-01-02T00:00:00.000Z', score: 85, engagement: 60, fit: 25, intent: 0 },
  ])
  t.same(pts.map((p) => p.at.toISOString()), ['2025-01-01T00:00:00.000Z', '2025-01-02T00:00:00.000Z'])
  t.same(pts[1], { at: new Date('2025-01-02T00:00:00.000Z'), total: 85, engagement: 60, fit: 25, intent: 0 })
  t.same(bucketPoints([]), [])
})

t.test('a picked day is asked for as of its end, UTC', async (t) => {
  t.equal(endOfDayUtc('2025-03-01'), '2025-03-01T23:59:59.999Z')
  t.equal(endOfDayUtc(''), null)
  t.equal(endOfDayUtc('2025-3-1'), null)
  t.equal(endOfDayUtc('2025-02-30'), null)
})

t.test("a quiet lead's trend ends a bucket after its last event", async (t) => {
  const now = Date.parse('2026-12-05T12:00:00Z')
  t.equal(trendEnd('2025-03-01T10:00:00.000Z', 'month', now), '2025-04-01T10:00:00.000Z')
  t.equal(trendEnd('2025-03-01T10:00:00.000Z', 'day', now), '2025-03-02T10:00:00.000Z')
  t.equal(trendEnd('2026-12-05T11:30:00.000Z', 'hour', now), undefined, 'recent: up to now')
  t.equal(trendEnd(null, 'day', now), undefined)
})
