import { Type, type Static } from '@sinclair/typebox'

/** Filters of the lead list (and of the lead export). */
export const LeadFilterQuery = Type.Object({
  minScore: Type.Optional(Type.Number()),
  maxScore: Type.Optional(Type.Number()),
  status: Type.Optional(Type.String({ maxLength: 50 })),
  stage: Type.Optional(Type.String({ maxLength: 50 })),
  source: Type.Optional(Type.String({ maxLength: 100 })),
  q: Type.Optional(Type.String({ maxLength: 200, description: 'Text search: leads with a word of their name, company, email or external id starting with the longest word of `q`, and containing `q` (case and accents ignored). Results come in match order, not in `sort` order' })),
})
export type LeadFilterQueryT = Static<typeof LeadFilterQuery>

/** The orders the lead list can be sorted in. */
export const LEAD_SORTS = ['score_desc', 'score_asc', 'updated_desc', 'created_desc', 'last_event_desc', 'name_asc'] as const
export type SortName = typeof LEAD_SORTS[number]
