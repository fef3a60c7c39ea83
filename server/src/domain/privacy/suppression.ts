// The suppression list: identities of leads erased on request, so a redelivery does not create them again. Each entry's
// `_id` is a hash of one identity key (`email:<address>` or `ext:<id>`), never the identity itself, and ingest looks a
// request's keys up as one `_id` list.
import type { Collection } from 'mongodb'
import { sha256 } from '../../lib/ids.js'
import { findByIds, insertIgnoringDuplicates } from '../../infra/db.js'
import { leadKeyOf, normalizeEmail } from '../events/normalize.js'
import { mapLimit } from '../../lib/map-limit.js'

export interface SuppressionDoc {
  /** `sp_` + SHA-256 of the identity key. */
  _id: string
  /** Which kind of identity was hashed (the value itself is not kept). */
  kind: 'email' | 'externalId'
  /** The id the erased lead had (itself a hash of its key). */
  leadId: string
  at: Date
  by: string
}

/** The suppression hash of an identity key. */
export function suppressionIdOf (key: string): string {
  return `sp_${sha256(`suppress\n${key}`)}`
}

/** The identity keys of a lead: its key and, for an email lead that also carries an external id, `ext:<id>`. */
export function identityKeysOf (lead: { key: string; email: string | null; externalId: string | null }): string[] {
  const keys = [lead.key]
  if (lead.externalId !== null && !keys.includes(`ext:${lead.externalId}`)) keys.push(`ext:${lead.externalId}`)
  return keys
}

/** The key an admin names an entry by (an email or an external id), or null when the email is not valid. */
export function keyOfIdentity (by: { email?: string; externalId?: string }): string | null {
  if (by.email !== undefined) {
    const email = normalizeEmail(by.email)
    return email === null ? null : leadKeyOf(email, null)
  }
  const ext = by.externalId?.trim() ?? ''
  return ext === '' ? null : leadKeyOf(null, ext)
}

/** `idIn`: whether the database answers `_id: { $in }` from its index (else one `_id` lookup per key, see `Database.idIn`). */
export function createSuppressionList (col: Collection<SuppressionDoc>, now: () => Date, idIn = true) {
  return {
    /** Suppresses a lead's identities (an identity suppressed already keeps its first entry). */
    async add (lead: { _id: string; key: string; email: string | null; externalId: string | null }, by: string): Promise<string[]> {
      const docs: SuppressionDoc[] = identityKeysOf(lead).map((key) => ({ _id: suppressionIdOf(key), kind: key.startsWith('email:') ? 'email' : 'externalId', leadId: lead._id, at: now(), by }))
      await insertIgnoringDuplicates(col, docs)
      return docs.map((d) => d._id)
    },

    /** Which of these identity keys are suppressed: one `_id` list lookup. */
    async suppressed (keys: readonly string[]): Promise<Set<string>> {
      if (keys.length === 0) return new Set()
      const byId = new Map(keys.map((k) => [suppressionIdOf(k), k]))
      const ids = [...byId.keys()]
      const found = idIn
        ? await findByIds<SuppressionDoc, { _id: string }>(col, ids, { _id: 1 })
        : (await mapLimit(ids, 16, async (id) => await col.findOne({ _id: id }, { projection: { _id: 1 } }))).filter((d): d is SuppressionDoc => d !== null)
      return new Set(found.map((d) => byId.get(d._id)!))
    },

    /** Entries newest first, from `before` (an `_id` cursor is not used: the list is small and read whole). */
    async list (limit: number): Promise<SuppressionDoc[]> {
      const all = await col.find({}).toArray()
      return all.sort((a, b) => b.at.getTime() - a.at.getTime() || (a._id < b._id ? -1 : 1)).slice(0, limit)
    },

    /** Lifts one entry; false when there was none. */
    async lift (id: string): Promise<boolean> {
      return (await col.deleteOne({ _id: id })).deletedCount === 1
    },
  }
}

export type SuppressionList = ReturnType<typeof createSuppressionList>
