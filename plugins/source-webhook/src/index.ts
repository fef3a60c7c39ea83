import { randomBytes } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import { defineSourcePlugin, parseJsonStrict, SourceInputError, type InboundRequest } from '@leadscore/server/contracts'
import { ADAPTERS, checkStandardSecret, type AdapterName } from './adapters.js'
import { isRestEnvelope, Mapping, mapOrRefuse, mergeMapping, REST_ENVELOPE } from './mapping.js'

export const WebhookConfig = Type.Object({
  adapter: Type.Union([Type.Literal('standard'), Type.Literal('stripe'), Type.Literal('github')], {
    default: 'standard', description: 'standard: Standard Webhooks (webhook-id/-timestamp/-signature); stripe: Stripe-Signature; github: X-Hub-Signature-256',
  }),
  signingSecret: Type.String({ minLength: 8, maxLength: 500, pattern: '^[\\x21-\\x7e](?:[\\x20-\\x7e]*[\\x21-\\x7e])?$', description: 'standard: whsec_<base64> (generated when absent); stripe: the endpoint secret from Stripe; github: the secret set on the GitHub webhook' }),
  toleranceSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 300, description: 'largest accepted clock difference of signed timestamps (standard, stripe)' }),
  maxBodyBytes: Type.Integer({ minimum: 1024, maximum: 1024 * 1024, default: 256 * 1024, description: 'larger deliveries are refused with 413' }),
  mapping: Type.Optional(Mapping),
}, { additionalProperties: false })

const JSON_RE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i
const FORM_RE = /^application\/x-www-form-urlencoded\s*(?:;|$)/i

/** The JSON payload of a verified delivery (GitHub may send it form-encoded as `payload=`). */
function payloadOf (req: InboundRequest): unknown {
  const ct = String(req.headers['content-type'] ?? '')
  if (JSON_RE.test(ct)) {
    if (req.rawBody.length === 0) throw new SourceInputError('the body is empty', { code: 'LS_ERR_MALFORMED_JSON' })
    return req.body
  }
  if (FORM_RE.test(ct)) {
    const payload = new URLSearchParams(req.rawBody.toString('utf8')).get('payload')
    if (payload === null) throw new SourceInputError('a form-encoded delivery carries its JSON in the field payload', { code: 'LS_ERR_MALFORMED_JSON' })
    // the same strict parser as JSON bodies: depth checked before parsing, no __proto__/constructor keys
    try {
      return parseJsonStrict(Buffer.from(payload, 'utf8'))
    } catch (err) {
      const code = (err as { code?: unknown }).code
      throw new SourceInputError(`the payload field: ${(err as Error).message}`, { code: typeof code === 'string' ? code : 'LS_ERR_MALFORMED_JSON', cause: err })
    }
  }
  throw new SourceInputError(`content type '${ct}' is not supported; send application/json`, { code: 'LS_ERR_UNSUPPORTED_MEDIA_TYPE' })
}

/**
 * The webhook source: `POST /v1/sources/<id>/webhook`, authenticated by the sender's signature (no API key), one
 * event per delivery, de-duplicated on the delivery id. See docs/sources.md.
 */
export const webhookSource = defineSourcePlugin({
  kind: 'source',
  manifest: { id: 'webhook', version: '1.0.0', contract: 1, config: WebhookConfig, secrets: ['signingSecret'] },
  generateSecret: () => `whsec_${randomBytes(32).toString('base64')}`,
  checkConfig (config) {
    const problems: string[] = []
    if (config.adapter === 'standard') {
      const p = checkStandardSecret(config.signingSecret)
      if (p !== null) problems.push(p)
    }
    const m = config.mapping
    if (m?.typeMap !== undefined && Object.keys(m.typeMap).length > 500) problems.push('mapping.typeMap has more than 500 entries')
    return problems
  },
  http: {
    routes: [{
      method: 'POST',
      url: '/webhook',
      summary: 'Receive a signed webhook (Standard Webhooks, Stripe or GitHub, per the source\'s adapter)',
      bodyLimit: 1024 * 1024,
      async verify (req, ctx) {
        if (req.rawBody.length > ctx.config.maxBodyBytes) {
          throw new SourceInputError(`the body is ${req.rawBody.length} bytes; this source accepts at most ${ctx.config.maxBodyBytes}`, { code: 'LS_ERR_BODY_TOO_LARGE' })
        }
        ADAPTERS[ctx.config.adapter as AdapterName].verify(req, ctx.secrets('signingSecret'), ctx.now().getTime(), ctx.config.toleranceSeconds)
      },
      async handle (req, ctx) {
        const adapterName = ctx.config.adapter as AdapterName
        const adapter = ADAPTERS[adapterName]
        const v = adapter.identify(req) // headers that verify() already accepted
        const payload = payloadOf(req)
        if (adapterName === 'github') {
          if (v.headerType === 'ping') return [] // sent once when the hook is created: nothing about a lead
          const action = payload !== null && typeof payload === 'object' ? (payload as Record<string, unknown>).action : undefined
          if (typeof action === 'string' && /^[a-z_]{1,50}$/.test(action)) v.headerType = `${v.headerType!}.${action}`
        }
        // the REST API's own envelope is read as the REST API reads it, beside the adapter's defaults
        const defaults = adapterName === 'standard' && isRestEnvelope(payload) ? REST_ENVELOPE : adapter.defaults
        return [mapOrRefuse(payload, mergeMapping(defaults, ctx.config.mapping), v)]
      },
    }],
  },
})

export default webhookSource
