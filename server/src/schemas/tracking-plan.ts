import { Type, type Static } from '@sinclair/typebox'

export const PlanMode = Type.Union([Type.Literal('off'), Type.Literal('warn'), Type.Literal('enforce')], {
  description: 'off: not checked; warn: stored, flagged with its violations and counted; enforce: a stored reject (LS_ERR_PROPERTIES_SCHEMA), counted',
})

const JsonSchema = Type.Object({}, {
  additionalProperties: true,
  description: "A JSON Schema (draft-07, what TypeBox produces) for the event's `properties` object; `pattern`s run on RE2",
})

const EventTypeName = Type.String({ minLength: 1, maxLength: 100, description: 'The event type as ingest stores it (trimmed, NFC), before ruleset aliases' })

/** One event type's entry in a tracking plan. */
export const PlanType = Type.Object({
  type: EventTypeName,
  mode: PlanMode,
  schema: JsonSchema,
  description: Type.Optional(Type.String({ maxLength: 500 })),
}, { additionalProperties: false })

/** A tracking plan version (version 0, with no types, before the first save). */
export const TrackingPlan = Type.Object({
  version: Type.Integer({ minimum: 0 }),
  author: Type.Union([Type.String(), Type.Null()]),
  note: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  types: Type.Array(PlanType),
  properties: Type.Array(Type.Object({
    name: Type.String(), types: Type.Array(Type.String()), eventTypes: Type.Array(Type.String()),
  }), { description: 'Property names the schemas declare at the top level (for editor completions of event.properties.<name>)' }),
})
export type TrackingPlanT = Static<typeof TrackingPlan>

export const PlanReplace = Type.Object({
  types: Type.Array(PlanType, { maxItems: 500 }),
  note: Type.Optional(Type.String({ maxLength: 500 })),
  baseVersion: Type.Optional(Type.Integer({ minimum: 0, description: 'The version this plan was edited from: a save over a newer version is refused (409 LS_ERR_TRACKING_PLAN_CONFLICT)' })),
}, { additionalProperties: false })

export const PlanTypePut = Type.Object({
  mode: PlanMode,
  schema: JsonSchema,
  description: Type.Optional(Type.String({ maxLength: 500 })),
  note: Type.Optional(Type.String({ maxLength: 500 })),
}, { additionalProperties: false })

export const PlanTypeParams = Type.Object({ type: EventTypeName })
export const PlanVersionParams = Type.Object({ version: Type.Integer({ minimum: 1 }) })

export const PlanVersions = Type.Object({
  items: Type.Array(Type.Object({
    version: Type.Integer(), author: Type.String(), note: Type.Union([Type.String(), Type.Null()]), createdAt: Type.String({ format: 'date-time' }), types: Type.Integer(),
  })),
})

export const PlanViolations = Type.Object({
  planVersion: Type.Integer({ minimum: 0, description: 'The current plan version' }),
  items: Type.Array(Type.Object({
    type: Type.String(), sourceId: Type.String(),
    warned: Type.Integer({ description: 'events stored with a warning (mode warn)' }),
    rejected: Type.Integer({ description: 'events refused (mode enforce)' }),
    lastAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    lastMessage: Type.Union([Type.String(), Type.Null()]),
    lastPointer: Type.Union([Type.String(), Type.Null()]),
    lastPlanVersion: Type.Union([Type.Integer(), Type.Null()]),
  })),
})

export const PlanCheckBody = Type.Object({
  properties: Type.Record(Type.String(), Type.Unknown(), { description: "An event's properties to check" }),
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: "Check against this type's schema in the latest plan" })),
  schema: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'Or against this schema (unsaved, e.g. while editing)' })),
}, { additionalProperties: false })

export const PlanCheckResult = Type.Object({
  planVersion: Type.Union([Type.Integer(), Type.Null()], { description: 'The plan version checked against; null for a given schema' }),
  mode: Type.Union([Type.Literal('off'), Type.Literal('warn'), Type.Literal('enforce'), Type.Null()], { description: "The type's mode; null when the type is not in the plan or a schema was given" }),
  matches: Type.Boolean(),
  violations: Type.Array(Type.Object({ message: Type.String(), pointer: Type.String() })),
})
