// The event form's validation, mirroring the server's EventInput schema (pure; tested by test/console/logic.test.ts).
import type { EventInput } from './api/types.js'

export interface EventFormFields {
  email: string
  leadExternalId: string
  name: string
  company: string
  type: string
  occurredAt: string
  externalId: string
  properties: string
}

export type EventFormErrors = Partial<Record<keyof EventFormFields, string>>

export const emptyEventForm = (): EventFormFields => ({ email: '', leadExternalId: '', name: '', company: '', type: '', occurredAt: '', externalId: '', properties: '' })

// the server's rules (domain/events/normalize.ts); it has the last word
const EMAIL_RE = /^[^\s@"<>()[\]\\,;:]+@[^\s@"<>()[\]\\,;:]+\.[^\s@"<>()[\]\\,;:]{2,}$/u
// control characters are what this pattern is for
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/

/** Field errors, and the request body when there are none. `occurredAt` is a `datetime-local` value (local time). */
export function validateEventForm (f: EventFormFields): { errors: EventFormErrors; body: EventInput | null } {
  const errors: EventFormErrors = {}
  const email = f.email.trim()
  const leadExternalId = f.leadExternalId.trim()
  if (email === '' && leadExternalId === '') errors.email = 'Enter an email or an external id for the lead'
  else if (email !== '' && (!EMAIL_RE.test(email) || email.length > 254)) errors.email = 'Enter a valid email address'
  if (leadExternalId.length > 200) errors.leadExternalId = 'At most 200 characters'
  if (f.name.trim().length > 200) errors.name = 'At most 200 characters'
  if (f.company.trim().length > 200) errors.company = 'At most 200 characters'
  const type = f.type.trim()
  if (type === '') errors.type = 'Choose an event type'
  else if (type.length > 100) errors.type = 'At most 100 characters'
  else if (CONTROL_RE.test(type)) errors.type = 'No control characters'
  let occurredAt: string | undefined
  if (f.occurredAt.trim() !== '') {
    const d = new Date(f.occurredAt)
    if (Number.isNaN(d.getTime())) errors.occurredAt = 'Enter a valid date and time'
    else occurredAt = d.toISOString()
  }
  const externalId = f.externalId.trim()
  if (externalId.length > 128) errors.externalId = 'At most 128 characters'
  let properties: Record<string, unknown> | undefined
  if (f.properties.trim() !== '') {
    try {
      const v: unknown = JSON.parse(f.properties)
      if (v === null || typeof v !== 'object' || Array.isArray(v)) errors.properties = 'Properties must be a JSON object, e.g. {"url": "/pricing"}'
      else properties = v as Record<string, unknown>
    } catch (err) {
      errors.properties = `Not valid JSON: ${(err as Error).message}`
    }
  }
  if (Object.keys(errors).length > 0) return { errors, body: null }
  const lead: EventInput['lead'] = {}
  if (email !== '') lead.email = email
  if (leadExternalId !== '') lead.externalId = leadExternalId
  if (f.name.trim() !== '') lead.name = f.name.trim()
  if (f.company.trim() !== '') lead.company = f.company.trim()
  const body: EventInput = { lead, type }
  if (externalId !== '') body.externalId = externalId
  if (occurredAt !== undefined) body.occurredAt = occurredAt
  if (properties !== undefined) body.properties = properties
  return { errors, body }
}

/** The form field a server error pointer (e.g. `#/lead/email`) refers to, if any. */
export function fieldOfPointer (pointer: string): keyof EventFormFields | null {
  const p = pointer.replace(/^#/, '')
  if (p.startsWith('/lead/email')) return 'email'
  if (p.startsWith('/lead/externalId')) return 'leadExternalId'
  if (p.startsWith('/lead/name')) return 'name'
  if (p.startsWith('/lead/company')) return 'company'
  if (p === '/lead' || p.startsWith('/lead/')) return 'email'
  if (p.startsWith('/type')) return 'type'
  if (p.startsWith('/occurredAt')) return 'occurredAt'
  if (p.startsWith('/externalId')) return 'externalId'
  if (p.startsWith('/properties')) return 'properties'
  return null
}
