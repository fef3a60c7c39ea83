// Uploads go through the source contract's batch side: the file is streamed to the installed source whose
// batch.accepts lists its media type. A third-party package adds a format (here a made-up "lines" format) and its
// rows get the upload's counts, stored rejects with lines and reasons, and file-level errors with its own code.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { Type } from '@sinclair/typebox'
import { batchRow, defineSourcePlugin, refuseInput, SourceInputError } from '../../server/src/contracts/index.js'
import { buildTestApp, AUTH } from '../helpers/harness.js'
import { upload } from '../helpers/upload-client.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const LINES = 'application/x-leadscore-lines'
const seen: Array<{ type: string; name: string | null; options: Record<string, unknown>; instanceId: string }> = []

/** "<email> <type>" per line; "#" lines are comments; "!" stops the file (a file-level problem). */
const linesSource = defineSourcePlugin({
  kind: 'source',
  manifest: { id: 'lines_format', version: '1.0.0', contract: 1, config: Type.Object({}, { additionalProperties: false }) },
  batch: {
    accepts: [LINES],
    async * parse (input, ctx, file) {
      seen.push({ type: file.type, name: file.name, options: { ...file.options }, instanceId: ctx.instanceId })
      let text = ''
      for await (const chunk of input) text += Buffer.from(chunk).toString('utf8')
      file.describe({ separator: ' ' })
      const lines = text.split('\n')
      for (const [i, raw] of lines.entries()) {
        const line = i + 1
        if (raw.trim() === '' || raw.startsWith('#')) continue
        if (raw.startsWith('!')) throw new SourceInputError('the file says stop', { code: 'LINES_FORMAT_ERR_STOP', line })
        const [email, type] = raw.trim().split(/\s+/)
        if (type === undefined) { yield batchRow(line, refuseInput('LINES_FORMAT_ERR_NO_TYPE', 'the line has no event type', raw)); continue }
        yield batchRow(line, { externalId: `line:${email!}:${type}`, lead: { email: email! }, type })
      }
    },
  },
})

async function listen (app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

t.test('a third-party batch source adds a format to POST /v1/uploads', async (t) => {
  const { app, db } = await buildTestApp(t, {}, { plugins: [linesSource] })
  const port = await listen(app)

  const types = (await app.inject({ url: '/v1/source-types', headers: AUTH })).json<Json>().items as Json[]
  t.match(types.find((x) => x.id === 'upload'), { batch: ['text/csv', 'application/csv', 'text/tab-separated-values', 'application/json', 'application/x-ndjson'] }, 'the first-party upload source lists its formats')
  t.same(types.find((x) => x.id === 'lines_format')?.batch, [LINES])

  const file = '# leads from the booth\nada@example.com demo_request\ngrace@example.com\n\nlinus@example.com page_view\n'
  const res = await upload(port, { filename: 'booth.lines', contentType: LINES, fields: { sourceId: 'booth' }, file })
  t.equal(res?.status, 201, res?.text ?? 'no answer')
  const r = res!.body
  t.match(r, { status: 'done', format: LINES, rows: 3, accepted: 2, duplicates: 0, rejected: 1 }, 'chosen by the part\'s media type (the name says nothing)')
  t.equal(r.rows, r.accepted + r.duplicates + r.rejected)
  t.same(r.rejects, [{ line: 3, code: 'LINES_FORMAT_ERR_NO_TYPE', reason: 'the line has no event type' }], 'the refused row is reported with its line')
  t.match(seen.at(-1), { type: LINES, name: 'booth.lines', options: { kind: 'events', mapping: null }, instanceId: 'upload:booth' })
  const stored = (await app.inject({ url: `/v1/uploads/${r.id as string}/rejects`, headers: AUTH })).json<Json>().items as Json[]
  t.match(stored, [{ index: 1, line: 3, code: 'LINES_FORMAT_ERR_NO_TYPE', raw: 'grace@example.com' }], 'and stored with its row index, line and raw text')
  t.equal(await db.c.events.countDocuments({ sourceId: 'upload:booth' }), 2, 'the events are stored under the upload source id')

  const again = await upload(port, { filename: 'booth.lines', contentType: LINES, fields: { sourceId: 'booth' }, file })
  t.match(again?.body, { status: 'done', accepted: 0, duplicates: 2, rejected: 1, duplicateOf: r.id }, 'the same file read the same way is a repeat')

  // the format field names the media type: it wins over the part's type
  const byField = await upload(port, { filename: 'x.csv', contentType: 'text/csv', fields: { format: LINES }, file: 'margaret@example.com page_view\n' })
  t.match(byField?.body, { status: 'done', format: LINES, accepted: 1 })

  const stop = await upload(port, { contentType: LINES, filename: 'stop.lines', file: 'ada@example.com email_open\n!\nbob@example.com page_view\n' })
  t.equal(stop?.status, 422, stop?.text ?? 'no answer')
  t.match(stop?.body, { code: 'LINES_FORMAT_ERR_STOP', line: 2, accepted: 1, rows: 1 }, 'a file-level problem keeps its code and line; the row before it is stored')
  const failed = (await app.inject({ url: `/v1/uploads/${stop!.body.uploadId as string}`, headers: AUTH })).json<Json>()
  t.match(failed, { status: 'failed', error: { code: 'LINES_FORMAT_ERR_STOP', line: 2 }, accepted: 1 })

  const unknown = await upload(port, { filename: 'book.xlsx', contentType: 'application/vnd.ms-excel', fields: { format: 'application/vnd.ms-excel' }, file: 'x' })
  t.equal(unknown?.status, 400, unknown?.text ?? 'no answer')
  t.match(unknown?.body, { code: 'LS_ERR_UPLOAD_FORMAT', detail: /no installed source reads application\/vnd.ms-excel/ })
  const badField = await upload(port, { fields: { format: 'excel please' }, file: 'x' })
  t.match(badField?.body, { status: 400, code: 'LS_ERR_VALIDATION' })
})

t.test('the built-in formats are read by the upload plugin, loaded like any plugin', async (t) => {
  const { app } = await buildTestApp(t)
  const port = await listen(app)
  const csv = await upload(port, { filename: 'a.csv', file: 'email,event\nada@example.com,page_view\n' })
  t.match(csv?.body, { status: 'done', format: 'csv', accepted: 1 })
  // an unknown part type and an unknown extension: the first bytes decide, as before
  const sniffed = await upload(port, { filename: 'export', contentType: 'application/octet-stream', file: '\ufeff[{"email":"ada@example.com","type":"email_open"}]' })
  t.match(sniffed?.body, { status: 'done', format: 'json', accepted: 1 })
  const created = await app.inject({ method: 'POST', url: '/v1/sources', headers: { ...AUTH, 'content-type': 'application/json' }, payload: { type: 'upload', name: 'files' } })
  t.match(created.json(), { status: 400, code: 'LS_ERR_VALIDATION', detail: /reads uploaded files/ }, 'a batch-only source has no instances')
})
