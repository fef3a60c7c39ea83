import type { EventDoc, LeadDoc, LedgerDoc, StoredPrediction } from '../domain/types.js'
import { decodeKeys } from '../lib/keys.js'
import { unpackProperties } from '../domain/events/stored-properties.js'

const iso = (d: Date | null | undefined): string | null => d == null ? null : d.toISOString()

export function predictionOut (p: StoredPrediction | null | undefined) {
  if (p == null) return null
  return { probability: p.probability, score: p.score, grade: p.grade, confidence: p.confidence, at: p.at.toISOString(), model: p.model, factors: p.factors }
}

export function leadOut (l: LeadDoc) {
  return {
    id: l._id, email: l.email ?? null, externalId: l.externalId ?? null, name: l.name ?? null, company: l.company ?? null,
    attributes: decodeKeys(l.attributes ?? {}), status: l.status, stage: l.stage ?? '', grade: l.grade ?? '', intentLabel: l.intentLabel ?? '', score: l.score,
    scores: { engagement: l.scores?.engagement ?? 0, fit: l.scores?.fit ?? 0, intent: l.scores?.intent ?? 0, predictive: l.scores?.predictive ?? null },
    sources: l.sources ?? [], lastSeq: l.lastSeq, nextSeq: l.nextSeq, lastEventAt: iso(l.lastEventAt), lastScoredAt: iso(l.lastScoredAt),
    rulesetVersion: l.rulesetVersion ?? null, predictive: predictionOut(l.predictive), createdAt: l.createdAt.toISOString(), updatedAt: l.updatedAt.toISOString(),
  }
}

export function eventOut (e: EventDoc) {
  return {
    id: e._id, sourceId: e.sourceId, externalId: e.externalId, leadId: e.leadId, seq: e.seq, type: e.type,
    occurredAt: e.occurredAt.toISOString(), receivedAt: e.receivedAt.toISOString(), status: e.status,
    timestampAdjusted: e.timestampAdjusted === true, properties: decodeKeys(unpackProperties(e.properties)),
    ...(e.planViolations !== undefined ? { planViolations: e.planViolations } : {}),
  }
}

export function ledgerOut (h: LedgerDoc) {
  const out: Record<string, unknown> = {
    id: h._id, leadId: h.leadId, kind: h.kind, eventId: h.eventId, eventType: h.eventType, seq: h.seq, occurredAt: h.occurredAt.toISOString(),
    before: h.before, after: h.after, delta: h.delta, reasons: h.reasons, stage: h.state?.stage ?? '', rulesetVersion: h.rulesetVersion,
    superseded: h.superseded, createdAt: h.createdAt.toISOString(),
  }
  if (h.supersededReason !== undefined) out.supersededReason = h.supersededReason
  if (h.offer !== undefined) out.offer = h.offer
  if (h.predictive != null) out.predictive = predictionOut(h.predictive)
  return out
}
