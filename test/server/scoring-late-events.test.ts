// Late events: an event whose canonical position is before already-scored events makes the lead replay from the last
// ledger checkpoint before it. The result equals in-order scoring (reset and cap are order-sensitive), entries before
// the late event keep their ids, the replaced ones stay in the audit trail as superseded.
import t from 'tap'
import { buildTestApp, postEvents, waitForScoring, AUTH } from '../helpers/harness.js'
import type { GenEvent } from '../helpers/model.js'
import { verifyLeads, type Get } from '../helpers/verify.js'

interface Entry { id: string; eventId: string; occurredAt: string; delta: number; after: { total: number }; superseded: boolean; supersededReason?: string }

t.test('a late event re-scores only the suffix and gives the in-order result', async (t) => {
  const { app, db } = await buildTestApp(t)
  const get: Get = async (path) => {
    const r = await app.inject({ url: path, headers: AUTH })
    return { status: r.statusCode, body: r.json() }
  }
  const email = 'late@example.com'
  const day = (h: number): string => new Date(Date.UTC(2025, 1, 3) + h * 3_600_000).toISOString()
  const all: GenEvent[] = []
  let n = 0
  const ev = (type: string, hour: number): GenEvent => {
    const i = n++
    return { key: `late-${i}`, lead: email, body: { externalId: `late-${i}`, lead: { email }, type, occurredAt: day(hour), properties: { n: i } } }
  }
  const visible = async (leadId: string): Promise<Entry[]> => (await get(`/v1/leads/${leadId}/history?order=asc&limit=1000`)).body.items
  const everything = async (leadId: string): Promise<Entry[]> => (await get(`/v1/leads/${leadId}/history?order=asc&limit=1000&includeSuperseded=true`)).body.items

  /** Submits events, waits, checks the lead against the model; for a late event, checks what was kept and superseded. */
  async function step (label: string, evs: GenEvent[]): Promise<{ leadId: string; entries: Entry[] }> {
    const before = all.length > 0 ? await visible(leadIdOf()) : []
    const beforeAll = all.length > 0 ? await everything(leadIdOf()) : []
    all.push(...evs)
    const res = await postEvents(app, evs.length === 1 ? evs[0]!.body : { events: evs.map((e) => e.body) })
    t.equal(res.statusCode, 202, `${label}: accepted`)
    await waitForScoring(db, 60_000)
    const [check] = await verifyLeads(t, get, db, all)
    const leadId = check!.leadId
    const entries = await visible(leadId)
    if (evs.length === 1 && before.length > 0) {
      const lateAt = evs[0]!.body.occurredAt
      const lateId = res.json().results[0].eventId as string
      const kept = before.filter((e) => e.occurredAt < lateAt)
      const replaced = before.filter((e) => e.occurredAt > lateAt)
      t.ok(replaced.length > 0, `${label}: the event is late (${replaced.length} scored events after it)`)
      t.same(entries.slice(0, kept.length).map((e) => e.id), kept.map((e) => e.id), `${label}: entries before the late event keep their ids`)
      const nowAll = await everything(leadId)
      const byId = new Map(nowAll.map((e) => [e.id, e]))
      for (const r of replaced) {
        const e = byId.get(r.id)
        t.ok(e?.superseded === true && e.supersededReason?.startsWith('rescored: late event') === true && e.supersededReason.includes(lateId),
          `${label}: replaced entry of ${r.eventId} kept as superseded (${e?.supersededReason ?? 'missing'})`)
      }
      const newIds = new Set(entries.map((e) => e.id))
      t.equal(replaced.filter((r) => newIds.has(r.id)).length, 0, `${label}: the replaced entries are not visible`)
      t.equal(nowAll.length - beforeAll.length, entries.length - kept.length, `${label}: only the suffix was re-scored (${entries.length - kept.length} new entries)`)
    }
    return { leadId, entries }
  }
  let leadId = ''
  const leadIdOf = (): string => leadId

  // t=10 purchase, t=20 unsubscribed (reset), t=30 purchase, t=40 demo request → 150
  let s = await step('in order', [ev('purchase', 10), ev('unsubscribed', 20), ev('purchase', 30), ev('demo_request', 40)])
  leadId = s.leadId
  t.same(s.entries.map((e) => e.after.total), [100, 0, 100, 150])
  // a purchase before the reset is wiped by it
  s = await step('late purchase before the reset', [ev('purchase', 15)])
  t.same(s.entries.map((e) => e.after.total), [100, 200, 0, 100, 150])
  // a purchase after the reset is kept
  s = await step('late purchase after the reset', [ev('purchase', 25)])
  t.same(s.entries.map((e) => e.after.total), [100, 200, 0, 100, 200, 250])
  // push to the cap: 8 purchases at t=50..57 → 250 + 800 = 1050, trimmed to 1000 by the last one (+50)
  s = await step('up to the cap', Array.from({ length: 8 }, (_, i) => ev('purchase', 50 + i)))
  t.equal(s.entries.at(-1)!.after.total, 1000)
  t.equal(s.entries.at(-1)!.delta, 50)
  // a late demo request before the capped tail moves where the cap bites: the last purchase now adds 0
  s = await step('late event under the cap', [ev('demo_request', 45)])
  t.equal(s.entries.at(-1)!.after.total, 1000)
  t.equal(s.entries.at(-1)!.delta, 0)
  t.equal(s.entries.at(-2)!.delta, 100)
  // a late spam mark before everything: the whole history is replayed (no checkpoint before it), same final result
  s = await step('late event before everything', [ev('marked_spam', 5)])
  t.same(s.entries.map((e) => e.after.total).slice(0, 3), [0, 100, 200])
  t.equal(s.entries.at(-1)!.after.total, 1000)
  // each commit claimed its revision; a committed claim is removed with the commit, so none is left for the purge
  t.ok((await db.c.leads.findOne({ _id: leadId }))!.rev >= 6, 'the lead was committed at every step')
  t.same(await db.c.locks.find({ _id: { $regex: /^commit:/ } } as never).toArray(), [], 'no revision claim is left')
})
