import { sha256 } from '../../lib/ids.js'
import type { LeadProfile } from './types.js'

const MAX_FIELD = 2000

function text (v: unknown): string | null {
  if (typeof v !== 'string') return null
  const s = v.normalize('NFC').replace(/\s+/g, ' ').trim()
  return s === '' ? null : s.slice(0, MAX_FIELD)
}

function pick (attributes: Record<string, unknown>, keys: readonly string[]): string | null {
  for (const k of keys) {
    const v = text(attributes[k])
    if (v !== null) return v
  }
  return null
}

/**
 * The profile of a lead as the seed CSV names it (`name, role, company, industry, location, linkedin_bio`): name and
 * company from the lead or its attributes, the rest from its attributes (a few common spellings accepted).
 */
export function profileOf (lead: { name?: string | null; company?: string | null; attributes?: Record<string, unknown> | null }): LeadProfile {
  const a = lead.attributes ?? {}
  return {
    name: text(lead.name) ?? pick(a, ['name', 'full_name']),
    role: pick(a, ['role', 'title', 'job_title', 'jobTitle']),
    company: text(lead.company) ?? pick(a, ['company', 'company_name']),
    industry: pick(a, ['industry']),
    location: pick(a, ['location', 'city', 'country']),
    linkedinBio: pick(a, ['linkedin_bio', 'linkedinBio', 'bio', 'summary']),
  }
}

/** Whether a profile says enough to classify: a role, an industry or a bio. */
export function isClassifiable (p: LeadProfile): boolean {
  return p.role !== null || p.industry !== null || p.linkedinBio !== null
}

/** A stable hash of the profile (field order fixed), the cache and trigger key's lead part. */
export function profileHash (p: LeadProfile): string {
  return sha256(JSON.stringify([p.name, p.role, p.company, p.industry, p.location, p.linkedinBio]))
}
