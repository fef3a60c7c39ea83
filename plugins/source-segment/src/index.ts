import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import { defineSourcePlugin, SourceAuthError, SourceInputError, type EventInput, type InboundRequest, type PluginContext, type SourceRoute } from '@leadscore/server/contracts'

export const SegmentConfig = Type.Object({
  writeKey: Type.String({ minLength: 16, maxLength: 200, pattern: '^[\\x21-\\x7e]+$', description: 'the write key senders use as the HTTP Basic user name (generated when absent)' }),
  snakeCaseEvents: Type.Boolean({ default: true, description: 'track event names become snake_case types ("Demo Requested" → demo_requested)' }),
}, { additionalProperties: false })
type Config = typeof SegmentConfig.static

/** Segment's documented limits: 32 KB per call, 500 KB per batch. The SDKs never send more than 2,500 items. */
const MAX_CALL_BYTES = 32 * 1024
const MAX_BATCH_BYTES = 500 * 1024
const MAX_BATCH_ITEMS = 2500

type Msg = Record<string, unknown>
const isObj = (v: unknown): v is Msg => v !== null && typeof v === 'object' && !Array.isArray(v)
const str = (v: unknown): string | undefined => typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined
const idOf = (v: unknown): string | undefined => typeof v === 'number' && Number.isFinite(v) ? String(v) : str(v)

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

/** The write key of a request: HTTP Basic user name (Segment's form), else `writeKey` in the body. */
function presentedKey (req: InboundRequest): string | undefined {
  const h = req.headers.authorization
  if (typeof h === 'string') {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h)
    if (m === null) return undefined
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    return colon < 0 ? decoded : decoded.slice(0, colon)
  }
  return isObj(req.body) ? str(req.body.writeKey) : undefined
}

async function verify (req: InboundRequest, ctx: PluginContext<Config>): Promise<void> {
  const key = presentedKey(req)
  if (key === undefined) throw new SourceAuthError('send the write key as the HTTP Basic user name')
  // compare digests: constant time whatever the lengths
  const given = digest(key)
  let ok = false
  for (const k of ctx.secrets('writeKey')) ok = timingSafeEqual(digest(k), given) || ok
  if (!ok) throw new SourceAuthError('the write key is not valid for this source')
}

/** "Demo Requested" → "demo_requested"; "orderCompleted" → "order_completed". */
export function snakeCase (name: string): string {
  return name.trim().replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '').toLowerCase()
}

function leadOf (msg: Msg, kind: string): EventInput['lead'] {
  const context = isObj(msg.context) ? msg.context : {}
  const traits = isObj(msg.traits) && kind !== 'group' ? msg.traits : isObj(context.traits) ? context.traits : {}
  const props = isObj(msg.properties) ? msg.properties : {}
  const lead: EventInput['lead'] = {}
  const email = str(traits.email) ?? (kind === 'track' ? str(props.email) : undefined)
  if (email !== undefined) lead.email = email
  const userId = idOf(msg.userId)
  const anonymousId = idOf(msg.anonymousId)
  if (userId !== undefined) lead.externalId = userId
  else if (anonymousId !== undefined) lead.externalId = `anon:${anonymousId}`
  const name = str(traits.name) ?? ([str(traits.firstName), str(traits.lastName)].filter((x) => x !== undefined).join(' ') || undefined)
  if (name !== undefined) lead.name = name
  const company = str(traits.company) ?? (isObj(traits.company) ? str(traits.company.name) : undefined)
  if (company !== undefined) lead.company = company
  if (kind === 'identify') {
    const { email: _e, name: _n, firstName: _f, lastName: _l, company: _c, ...rest } = traits
    if (Object.keys(rest).length > 0) lead.attributes = rest
  }
  return lead
}

/**
 * The event time with Segment's clock-skew correction: when the client says when it sent the batch (`sentAt`), the
 * time is `receivedAt − (sentAt − originalTimestamp)`, so a device whose clock is off still lands at the right
 * moment. Without `sentAt` (historical imports) the timestamp is kept as given.
 */
function timeOf (msg: Msg, batchSentAt: unknown, receivedAt: Date): string | undefined {
  const original = str(msg.originalTimestamp) ?? str(msg.timestamp)
  const sentAt = str(msg.sentAt) ?? str(batchSentAt)
  if (original === undefined) return undefined
  if (sentAt !== undefined) {
    const o = Date.parse(original)
    const s = Date.parse(sentAt)
    if (!Number.isNaN(o) && !Number.isNaN(s)) return new Date(receivedAt.getTime() - (s - o)).toISOString()
  }
  return str(msg.timestamp) ?? original
}

const TYPES: Record<string, string> = { identify: 'identify', page: 'page_view', screen: 'screen_view', group: 'group' }

/** Maps one Segment message. Never throws: an unusable message becomes an event ingest refuses with a reason. */
export function mapMessage (raw: unknown, kind: string | undefined, batch: Msg, receivedAt: Date, config: Config): EventInput {
  if (!isObj(raw)) return { lead: {}, type: '', properties: { segment: raw } }
  const msg = raw
  const k = kind ?? str(msg.type) ?? ''
  const props = isObj(msg.properties) ? msg.properties : {}
  let type: string
  let properties: Record<string, unknown>
  if (k === 'track') {
    const event = str(msg.event) ?? ''
    type = config.snakeCaseEvents ? snakeCase(event) : event
    properties = props
  } else if (k === 'page' || k === 'screen') {
    type = TYPES[k]!
    properties = { ...(str(msg.name) !== undefined ? { name: msg.name } : {}), ...(str(msg.category) !== undefined ? { category: msg.category } : {}), ...props }
  } else if (k === 'identify') {
    type = TYPES[k]!
    properties = {}
  } else if (k === 'group') {
    type = TYPES[k]!
    properties = { groupId: idOf(msg.groupId) ?? null, ...(isObj(msg.traits) ? { traits: msg.traits } : {}) }
  } else {
    // alias and unknown kinds carry no event we can score; the empty type makes ingest refuse them with a reason
    type = ''
    properties = { segmentType: k }
  }
  const ev: EventInput = { lead: leadOf(msg, k), type, properties }
  const messageId = idOf(msg.messageId)
  if (messageId !== undefined) ev.externalId = messageId
  const occurredAt = timeOf(msg, batch.sentAt, receivedAt)
  if (occurredAt !== undefined) ev.occurredAt = occurredAt
  return ev
}

function body (req: InboundRequest): Msg {
  if (!isObj(req.body)) throw new SourceInputError('the body must be a JSON object', { code: 'LS_ERR_VALIDATION' })
  return req.body
}

function single (kind: 'track' | 'identify' | 'page' | 'screen' | 'group'): SourceRoute<Config> {
  return {
    method: 'POST', url: `/segment/${kind}`, bodyLimit: MAX_CALL_BYTES, successStatus: 200,
    summary: `Segment-compatible ${kind} call (HTTP Basic: the source's write key as user name)`,
    verify,
    async handle (req, ctx) {
      return [mapMessage(body(req), kind, {}, ctx.now(), ctx.config)]
    },
  }
}

function batchRoute (url: string): SourceRoute<Config> {
  return {
    method: 'POST', url, bodyLimit: MAX_BATCH_BYTES, successStatus: 200,
    summary: 'Segment-compatible batch (what the Segment SDKs send); invalid items are refused one by one',
    verify,
    async handle (req, ctx) {
      const b = body(req)
      if (!Array.isArray(b.batch)) throw new SourceInputError('a batch is { "batch": [ ... ] }', { code: 'LS_ERR_VALIDATION' })
      if (b.batch.length > MAX_BATCH_ITEMS) throw new SourceInputError(`A batch holds at most ${MAX_BATCH_ITEMS} messages; this one has ${b.batch.length}`, { code: 'LS_ERR_BATCH_TOO_LARGE' })
      const receivedAt = ctx.now()
      return b.batch.map((m) => mapMessage(m, undefined, b, receivedAt, ctx.config))
    },
  }
}

/**
 * A Segment-compatible collection API: `/v1/sources/<id>/segment/{track,identify,page,screen,group,batch}`. Point a
 * Segment SDK's host at `/v1/sources/<id>/segment` (its default path `/v1/batch` is served too). `messageId` is the
 * event's externalId, so the SDK's retries are duplicates. Answers 400 only for a malformed request (the SDKs drop a
 * batch on 400 and retry anything else); invalid messages are refused one by one (200, stored with reasons).
 */
export const segmentSource = defineSourcePlugin({
  kind: 'source',
  manifest: { id: 'segment', version: '1.0.0', contract: 1, config: SegmentConfig, secrets: ['writeKey'] },
  generateSecret: () => `wk_${randomBytes(24).toString('base64url')}`,
  http: {
    routes: [single('track'), single('identify'), single('page'), single('screen'), single('group'), batchRoute('/segment/batch'), batchRoute('/segment/v1/batch')],
  },
})

export default segmentSource
