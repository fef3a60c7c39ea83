/**
 * An example third-party Leadscore source plugin: Typeform form responses, delivered as signed webhooks, become
 * `form_submit` events. It is built only on `@leadscore/server/contracts` (and TypeBox for its config schema), as
 * every plugin must be: no server internals, no database, no other plugin.
 *
 * Typeform signs each delivery with `Typeform-Signature: sha256=<base64 HMAC-SHA256 of the raw body>`, keyed with the
 * secret set on the form's webhook.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import { defineSourcePlugin, SourceAuthError, SourceInputError, type EventInput, type InboundRequest } from '@leadscore/server/contracts'

/** One instance's configuration. */
export const TypeformConfig = Type.Object({
  secret: Type.String({ minLength: 16, maxLength: 200, description: 'the secret set on the Typeform webhook (generated when absent: paste it into Typeform)' }),
  forms: Type.Array(Type.String({ pattern: '^[A-Za-z0-9]{1,32}$' }), { default: [], maxItems: 100, description: 'form ids to accept; responses to other forms are acknowledged and ignored. Empty: every form.' }),
  eventType: Type.String({ minLength: 1, maxLength: 100, default: 'form_submit', description: 'the type of the events' }),
  nameField: Type.Optional(Type.String({ maxLength: 100, description: 'ref of the question that holds the respondent\'s name' })),
  companyField: Type.Optional(Type.String({ maxLength: 100, description: 'ref of the question that holds the company' })),
}, { additionalProperties: false })

type Answer = Record<string, unknown> & { type?: unknown; field?: { ref?: unknown } }

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/** The value of one Typeform answer, whatever its type. */
function answerValue (a: Answer): unknown {
  switch (a.type) {
    case 'choice': return isObj(a.choice) ? a.choice.label ?? a.choice.other : undefined
    case 'choices': return isObj(a.choices) ? a.choices.labels : undefined
    case 'phone_number': return a.phone_number
    case 'file_url': return a.file_url
    default: return typeof a.type === 'string' ? a[a.type] : undefined
  }
}

function verifySignature (req: InboundRequest, secrets: readonly string[]): void {
  const header = req.headers['typeform-signature']
  if (header === undefined) throw new SourceAuthError('missing header Typeform-Signature', { code: 'EXAMPLE_TYPEFORM_ERR_SIGNATURE' })
  if (typeof header !== 'string' || !/^sha256=[A-Za-z0-9+/]{43}=$/.test(header)) {
    throw new SourceAuthError('Typeform-Signature looks like sha256=<base64>', { code: 'EXAMPLE_TYPEFORM_ERR_SIGNATURE' })
  }
  const given = Buffer.from(header.slice(7), 'base64')
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(req.rawBody).digest()
    if (timingSafeEqual(expected, given)) return
  }
  throw new SourceAuthError('the signature does not match the body', { code: 'EXAMPLE_TYPEFORM_ERR_SIGNATURE' })
}

export const typeformSource = defineSourcePlugin({
  kind: 'source',
  manifest: { id: 'example_typeform', version: '1.0.0', contract: 1, config: TypeformConfig, secrets: ['secret'] },
  http: {
    routes: [{
      method: 'POST',
      url: '/typeform',
      summary: 'Receive a Typeform webhook (Typeform-Signature)',
      bodyLimit: 512 * 1024,
      async verify (req, ctx) {
        // every currently valid secret: after a rotation the previous one works until its overlap ends
        verifySignature(req, ctx.secrets('secret'))
      },
      async handle (req, ctx) {
        const body = req.body
        if (!isObj(body)) throw new SourceInputError('the body must be a JSON object', { code: 'EXAMPLE_TYPEFORM_ERR_BODY' })
        if (body.event_type !== 'form_response') return [] // other notifications carry no response
        const r = body.form_response
        if (!isObj(r)) throw new SourceInputError('form_response is missing', { code: 'EXAMPLE_TYPEFORM_ERR_BODY' })
        const formId = typeof r.form_id === 'string' ? r.form_id : ''
        if (ctx.config.forms.length > 0 && !ctx.config.forms.includes(formId)) {
          ctx.log.debug({ formId }, 'response to a form this source does not accept')
          return []
        }
        const answers: Record<string, unknown> = {}
        let email: string | undefined
        for (const a of Array.isArray(r.answers) ? r.answers as Answer[] : []) {
          if (!isObj(a)) continue
          const ref = isObj(a.field) && typeof a.field.ref === 'string' ? a.field.ref : undefined
          const value = answerValue(a)
          if (a.type === 'email' && typeof value === 'string' && email === undefined) email = value
          if (ref !== undefined && value !== undefined) answers[ref] = value
        }
        const hidden = isObj(r.hidden) ? r.hidden : {}
        if (email === undefined && typeof hidden.email === 'string') email = hidden.email
        const lead: EventInput['lead'] = {}
        if (email !== undefined) lead.email = email
        const name = ctx.config.nameField !== undefined ? answers[ctx.config.nameField] : undefined
        if (typeof name === 'string') lead.name = name
        const company = ctx.config.companyField !== undefined ? answers[ctx.config.companyField] : undefined
        if (typeof company === 'string') lead.company = company
        const title = isObj(r.definition) && typeof r.definition.title === 'string' ? r.definition.title : undefined
        const event: EventInput = {
          lead,
          type: ctx.config.eventType,
          properties: { formId, ...(title !== undefined ? { formTitle: title } : {}), answers, ...(Object.keys(hidden).length > 0 ? { hidden } : {}) },
        }
        // the response token is the same on every retry of this response: the server de-duplicates on it
        if (typeof r.token === 'string') event.externalId = `tf:${r.token}`
        if (typeof r.submitted_at === 'string') event.occurredAt = r.submitted_at
        return [event]
      },
    }],
  },
})

export default typeformSource
