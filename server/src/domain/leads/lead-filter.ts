import type { Filter } from 'mongodb'
import type { LeadDoc } from '../types.js'
import type { LeadFilterQueryT } from '../../schemas/leads.js'
import { escapeRegex } from '../../lib/escape-regex.js'

/** The MongoDB filter of the lead list's query parameters, for exports (which read every lead they write anyway). */
export function leadFilter (q: LeadFilterQueryT): Filter<LeadDoc> {
  const f: Filter<LeadDoc> = {}
  const and: Filter<LeadDoc>[] = []
  if (q.minScore !== undefined || q.maxScore !== undefined) {
    const s: Record<string, number> = {}
    if (q.minScore !== undefined) s.$gte = q.minScore
    if (q.maxScore !== undefined) s.$lte = q.maxScore
    f.score = s
  }
  if (q.status !== undefined) f.status = q.status
  if (q.stage !== undefined) f.stage = q.stage
  if (q.source !== undefined) f.sources = q.source
  if (q.q !== undefined && q.q.trim() !== '') {
    const re = { $regex: escapeRegex(q.q.trim()), $options: 'i' }
    and.push({ $or: [{ name: re }, { email: re }, { company: re }, { externalId: re }] } as Filter<LeadDoc>)
  }
  if (and.length > 0) f.$and = and
  return f
}
