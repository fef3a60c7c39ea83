import type { Collections } from '../infra/db.js'
import { findByIds, insertIgnoringDuplicates } from '../infra/db.js'
import { leadIdOf } from './ids.js'

/**
 * Which lead an event that names only a lead external id belongs to, answered by `_id` alone.
 *
 * A lead's key is its email when it has one (`email:…`), else its external id (`ext:…`), and its `_id` is a hash of
 * the key. An event naming only external id X goes to the lead `ext:X`, unless a lead keyed by its email carries X:
 * then the alias `ext:X` in `leadAliases` names that lead. Before aliases, ingest found such a lead with a query on
 * `leads.externalId`, which the embedded database answers by reading every lead: a stream of leads known only by an
 * external id ingested in time quadratic in the number of leads.
 */
/** Marks a database whose existing leads have their aliases (not an external id: those are `ext:…`). */
const BACKFILLED = '~backfilled'

export function createIdentityService (c: Collections, now: () => Date) {
  return {
    /** The key of each external id that an email-keyed lead carries (external ids without one are left out). */
    async keysOf (externalIds: readonly string[]): Promise<Map<string, string>> {
      const ids = [...new Set(externalIds)].map((x) => `ext:${x}`)
      if (ids.length === 0) return new Map()
      const found = await findByIds<{ _id: string; key: string }, { _id: string; key: string }>(c.leadAliases as never, ids, { key: 1 })
      return new Map(found.map((a) => [a._id.slice(4), a.key]))
    },

    /**
     * Records that email-keyed leads now carry these external ids. The first lead to claim an id keeps it, and an id
     * that already has a lead of its own (`ext:X`) gets no alias: its events keep going to that lead. Idempotent.
     */
    async link (claims: ReadonlyArray<{ externalId: string; leadId: string; key: string }>): Promise<void> {
      if (claims.length === 0) return
      const own = new Set((await findByIds<{ _id: string }, { _id: string }>(c.leads as never, claims.map((x) => leadIdOf(`ext:${x.externalId}`)), { _id: 1 })).map((l) => l._id))
      const t = now()
      await insertIgnoringDuplicates(c.leadAliases, claims
        .filter((x) => !own.has(leadIdOf(`ext:${x.externalId}`)))
        .map((x) => ({ _id: `ext:${x.externalId}`, leadId: x.leadId, key: x.key, createdAt: t })))
    },

    /** Forgets the alias of an erased lead. */
    async unlink (leadId: string, externalId: string | null): Promise<void> {
      if (externalId !== null) await c.leadAliases.deleteOne({ _id: `ext:${externalId}`, leadId })
    },

    /**
     * Writes the aliases of leads that carry an external id beside an email (data stored before aliases existed).
     * Reads the leads collection once per database: a marker records that it ran. Repeating it is harmless.
     */
    async backfillOnce (): Promise<number> {
      if (await c.leadAliases.findOne({ _id: BACKFILLED }, { projection: { _id: 1 } }) !== null) return 0
      let n = 0
      let batch: Array<{ externalId: string; leadId: string; key: string }> = []
      const cursor = c.leads.find({ externalId: { $type: 'string' }, key: { $regex: /^email:/ } }).project<{ _id: string; key: string; externalId: string }>({ key: 1, externalId: 1 })
      for await (const l of cursor) {
        batch.push({ externalId: l.externalId, leadId: l._id, key: l.key })
        if (batch.length >= 500) { await this.link(batch); n += batch.length; batch = [] }
      }
      await this.link(batch)
      await insertIgnoringDuplicates(c.leadAliases, [{ _id: BACKFILLED, leadId: '', key: '', createdAt: now() }])
      return n + batch.length
    },
  }
}

export type IdentityService = ReturnType<typeof createIdentityService>
