// Source routes against unauthenticated floods and replays: refused deliveries past a per-address cap are counted but
// not stored; GitHub deliveries are de-duplicated on the signed body, whatever their (unsigned) delivery id and event.
import t from 'tap'
import { Writable } from 'node:stream'
import { buildTestApp } from '../helpers/harness.js'
import { createSource, listen, post, standardHeaders, githubSignature, waitForStats } from '../helpers/sources.js'
import { REJECTS_PER_WINDOW } from '../../server/src/plugin-host/reject-limit.js'

t.test('200 bad-signature deliveries: at most the cap are stored, all are counted, one log line', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _enc, cb) { lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== '')); cb() } })
  const { app, db } = await buildTestApp(t, {}, { logger: { level: 'info', stream } })
  const base = await listen(app)
  const src = await createSource(app, { type: 'webhook', name: 'flooded' })
  const url = `${base}/v1/sources/${src.id as string}/webhook`
  const body = JSON.stringify({ type: 'x', data: { email: 'a@example.com' } })
  const forged = 'whsec_' + Buffer.alloc(32, 9).toString('base64')
  const now = Math.floor(Date.now() / 1000)
  for (let round = 0; round < 10; round++) {
    const res = await Promise.all(Array.from({ length: 20 }, async (_, i) => await post(url, body, standardHeaders(forged, `f-${round}-${i}`, now, body))))
    t.ok(res.every((r) => r.status === 401 && r.body.code === 'LS_ERR_WEBHOOK_SIGNATURE'), `round ${round}: all 401`)
  }
  const stored = await db.c.ingestRejects.countDocuments({ sourceId: src.id })
  t.ok(stored >= 1 && stored <= REJECTS_PER_WINDOW, `${stored} stored rejects (cap ${REJECTS_PER_WINDOW})`)
  const stats = await waitForStats(app, src.id as string, (s) => s.rejectedDeliveries === 200)
  t.match(stats, { deliveries: 200, rejectedDeliveries: 200, lastError: { code: 'LS_ERR_WEBHOOK_SIGNATURE' } }, 'every refusal is counted')
  t.equal(lines.filter((l) => l.includes('over the cap')).length, 1, 'one log line for the window')
})

t.test('github: a delivery replayed under a new delivery id, or a new event name, is a duplicate', async (t) => {
  const { app, db } = await buildTestApp(t)
  const base = await listen(app)
  const secret = 'a github hook secret'
  const src = await createSource(app, { type: 'webhook', name: 'github', config: { adapter: 'github', signingSecret: secret } })
  const url = `${base}/v1/sources/${src.id as string}/webhook`
  const pr = JSON.stringify({ action: 'opened', number: 7, pull_request: { title: 'Add scoring' }, repository: { full_name: 'o/r' }, sender: { login: 'octocat' } })
  const headers = (delivery: string, event: string): Record<string, string> => ({
    'content-type': 'application/json', 'x-github-event': event, 'x-github-delivery': delivery, 'x-hub-signature-256': githubSignature(secret, pr),
  })
  t.equal((await post(url, pr, headers('d-1', 'pull_request'))).status, 202)
  t.match(await post(url, pr, headers('d-replayed', 'pull_request')), { status: 200, body: { status: 'duplicate', duplicate: true } }, 'a new delivery id')
  t.match(await post(url, pr, headers('d-retyped', 'issues')), { status: 200, body: { status: 'duplicate', duplicate: true } }, 'a new event name')
  const events = await db.c.events.find({ sourceId: src.id }).toArray()
  t.equal(events.length, 1, 'one event')
  t.equal(events[0]?.type, 'pull_request.opened', 'the type of the first delivery')
  t.match(events[0]?.externalId, /^gh_[0-9a-f]{64}$/, 'identified by the hash of the signed body')
})
