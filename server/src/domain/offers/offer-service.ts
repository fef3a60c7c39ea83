import type { Collection } from 'mongodb'
import { isDuplicateKey } from '../../infra/db.js'
import { newId } from '../../lib/ids.js'
import { LS_ERR_OFFER_ACTIVE, LS_ERR_OFFER_BUSY, LS_ERR_OFFER_INVALID, LS_ERR_OFFER_NOT_FOUND } from '../../errors.js'
import type { Offer, OfferService } from './types.js'
import { industryKey, type IndustryTaxonomy } from './taxonomy.js'
import { NO_OFFER, offerSnapshot, type OfferSnapshot } from './offer-facts.js'

// Every document is found by `_id` (the embedded database scans a collection for any other query):
//   o:<offer id>                 the offer: name, latest version, archived
//   v:<offer id>:<version, 6 digits>  one immutable version
//   active                       which version of which offer scoring uses (one per workspace)
// Headers are listed by an `_id` range on "o:", the versions of one offer by a range on "v:<id>:".

/** A stored offer document: its header, one of its versions, or the active pointer. */
export type OfferStoreDoc =
  | { _id: string; kind: 'offer'; id: string; name: string; latestVersion: number; archived: boolean; createdAt: Date; updatedAt: Date }
  | ({ _id: string; kind: 'version' } & Omit<Offer, 'active'>)
  | { _id: string; kind: 'active'; offerId: string; version: number; at: Date; by: string }

/** What a client writes: the offer without id, version and the resolved adjacency. */
export interface OfferInput {
  name: string
  valuePropositions?: string[] | undefined
  useCases?: string[] | undefined
  icp: {
    industries: string[]
    /** Industries the offer counts as adjacent beyond the taxonomy's. */
    adjacentAdditions?: string[] | undefined
    roles?: { decisionMakers?: string[] | undefined; influencers?: string[] | undefined } | undefined
    locations?: string[] | undefined
  }
}

export interface OfferSummary { id: string; name: string; latestVersion: number; activeVersion: number | null; createdAt: Date; updatedAt: Date }

/** Offers and the workspace's active offer: reads for scoring and intent, versioned writes for the API. */
export interface OfferStore extends OfferService {
  readonly taxonomy: IndustryTaxonomy
  /** The `offer` fact for scoring, cached for a second like the active ruleset. */
  snapshot(): Promise<OfferSnapshot>
  list(): Promise<OfferSummary[]>
  versions(id: string): Promise<Offer[]>
  create(input: OfferInput, actor: string): Promise<Offer>
  /** Saves a new version (versions never change); it is active only once activated. */
  update(id: string, input: OfferInput, actor: string): Promise<Offer>
  activate(id: string, version: number | undefined, actor: string): Promise<Offer>
  /** Leaves the workspace without an active offer; false when none was active. */
  deactivate(): Promise<boolean>
  /** Hides an offer that is not active; its versions stay readable by id. */
  archive(id: string): Promise<void>
}

/** The roles the seed's buying-intent score counts, used when an offer gives none. */
export const DEFAULT_ROLES = { decisionMakers: ['CEO', 'CTO', 'VP', 'Director', 'Founder', 'Owner'], influencers: ['Manager', 'Lead', 'Architect', 'Senior'] }

const LIMITS = { items: 200, chars: 200, name: 200 } as const
const pad = (v: number): string => String(v).padStart(6, '0')
const versionId = (id: string, v: number): string => `v:${id}:${pad(v)}`

/** Trimmed, non-empty, without case-insensitive duplicates (first spelling kept); throws on oversized input. */
function cleanList (xs: readonly string[] | undefined, pointer: string): string[] {
  const list = xs ?? []
  if (list.length > LIMITS.items) throw invalid(pointer, `at most ${LIMITS.items} entries`)
  const seen = new Set<string>()
  const out: string[] = []
  for (const [i, x] of list.entries()) {
    const t = x.replace(/\s+/g, ' ').trim()
    if (t.length > LIMITS.chars) throw invalid(`${pointer}/${i}`, `at most ${LIMITS.chars} characters`)
    if (t === '' || seen.has(industryKey(t))) continue
    seen.add(industryKey(t))
    out.push(t)
  }
  return out
}

function invalid (pointer: string, detail: string): Error {
  const err = new LS_ERR_OFFER_INVALID(`${pointer}: ${detail}`)
  ;(err as unknown as { errors: unknown }).errors = [{ pointer, detail }]
  return err
}

export function createOfferService (deps: { offers: Collection<OfferStoreDoc>; now: () => Date; taxonomy: IndustryTaxonomy; cacheMs?: number }): OfferStore {
  const { offers, now, taxonomy } = deps
  const cacheMs = deps.cacheMs ?? 1000
  let cached: { snap: OfferSnapshot; offer: Offer | null; at: number } | null = null

  /** The version fields from client input: lists cleaned, industries in the taxonomy's spelling, adjacency resolved. */
  function resolve (input: OfferInput): Omit<Offer, 'id' | 'version' | 'createdAt' | 'createdBy' | 'active'> {
    const name = input.name.replace(/\s+/g, ' ').trim()
    if (name === '' || name.length > LIMITS.name) throw invalid('#/name', `a name of 1-${LIMITS.name} characters`)
    const industries = cleanList(input.icp.industries, '#/icp/industries').map((x) => taxonomy.canonical(x) ?? x)
    const additions = cleanList(input.icp.adjacentAdditions, '#/icp/adjacentAdditions').map((x) => taxonomy.canonical(x) ?? x)
    const own = new Set(industries.map(industryKey))
    const adjacent: string[] = []
    const seen = new Set<string>()
    for (const x of [...industries.flatMap((i) => taxonomy.adjacent(i)), ...additions]) {
      const k = industryKey(x)
      if (own.has(k) || seen.has(k)) continue
      seen.add(k)
      adjacent.push(x)
    }
    const roles = input.icp.roles
    const icp: Offer['icp'] = {
      industries,
      adjacentIndustries: adjacent,
      adjacentAdditions: additions,
      roles: {
        decisionMakers: roles?.decisionMakers !== undefined ? cleanList(roles.decisionMakers, '#/icp/roles/decisionMakers') : [...DEFAULT_ROLES.decisionMakers],
        influencers: roles?.influencers !== undefined ? cleanList(roles.influencers, '#/icp/roles/influencers') : [...DEFAULT_ROLES.influencers],
      },
    }
    if (input.icp.locations !== undefined) icp.locations = cleanList(input.icp.locations, '#/icp/locations')
    return { name, valuePropositions: cleanList(input.valuePropositions, '#/valuePropositions'), useCases: cleanList(input.useCases, '#/useCases'), icp }
  }

  async function pointer (): Promise<{ offerId: string; version: number } | null> {
    const p = await offers.findOne({ _id: 'active' })
    return p !== null && p.kind === 'active' ? { offerId: p.offerId, version: p.version } : null
  }

  function fromDoc (d: OfferStoreDoc | null, active: { offerId: string; version: number } | null): Offer | null {
    if (d === null || d.kind !== 'version') return null
    const { _id: _i, kind: _k, ...o } = d
    return { ...o, active: active !== null && active.offerId === o.id && active.version === o.version }
  }

  async function header (id: string): Promise<Extract<OfferStoreDoc, { kind: 'offer' }>> {
    const h = await offers.findOne({ _id: `o:${id}` })
    if (h === null || h.kind !== 'offer') throw new LS_ERR_OFFER_NOT_FOUND(id)
    return h
  }

  async function get (id: string, version?: number): Promise<Offer | null> {
    const h = await offers.findOne({ _id: `o:${id}` })
    if (h === null || h.kind !== 'offer') return null
    return fromDoc(await offers.findOne({ _id: versionId(id, version ?? h.latestVersion) }), await pointer())
  }

  /** The highest stored version of an offer: the last `_id` of its range (versions are zero-padded, so they sort). */
  async function lastStored (id: string): Promise<number> {
    const d = await offers.find({ _id: { $gte: `v:${id}:`, $lt: `v:${id};` } } as never).sort({ _id: -1 }).limit(1).project<{ version: number }>({ version: 1 }).next()
    return d?.version ?? 0
  }

  /**
   * Inserts the next version of an offer, then moves its header on. A unique `_id` decides races: a loser reads the
   * winner's version and takes the next number, so versions have no gaps.
   */
  async function insertVersion (id: string, fields: ReturnType<typeof resolve>, actor: string, first: boolean): Promise<Offer> {
    const t = now()
    for (let attempt = 0; attempt < 20; attempt++) {
      const version = (first ? 0 : await lastStored(id)) + 1
      const doc: OfferStoreDoc = { _id: versionId(id, version), kind: 'version', id, version, ...fields, createdAt: t, createdBy: actor }
      try {
        await offers.insertOne(doc)
      } catch (err) {
        if (!isDuplicateKey(err)) throw err
        continue
      }
      if (first) {
        await offers.insertOne({ _id: `o:${id}`, kind: 'offer', id, name: fields.name, latestVersion: version, archived: false, createdAt: t, updatedAt: t })
      } else {
        // only a newer version moves the header, so its name is the latest version's whatever order saves finish in
        await offers.updateOne({ _id: `o:${id}`, latestVersion: { $lt: version } } as never, { $set: { latestVersion: version, name: fields.name, updatedAt: t } } as never)
      }
      return (await get(id, version))!
    }
    throw new LS_ERR_OFFER_BUSY()
  }

  async function active (): Promise<Offer | null> {
    const p = await pointer()
    return p === null ? null : fromDoc(await offers.findOne({ _id: versionId(p.offerId, p.version) }), p)
  }

  return {
    taxonomy,
    active,
    get,
    async snapshot () {
      const t = Date.now()
      if (cached === null || t - cached.at > cacheMs) {
        const offer = await active()
        // the same snapshot object while the active version stays, so scoring compares and caches by identity
        const snap = offer === null ? NO_OFFER : cached !== null && cached.offer?.id === offer.id && cached.offer.version === offer.version ? cached.snap : offerSnapshot(offer)
        cached = { snap, offer, at: t }
      }
      return cached.snap
    },
    async list () {
      const [heads, p] = await Promise.all([
        offers.find({ _id: { $gte: 'o:', $lt: 'o;' } } as never).sort({ _id: 1 }).limit(1000).toArray(),
        pointer(),
      ])
      return heads.flatMap((h) => h.kind !== 'offer' || h.archived ? [] : [{
        id: h.id, name: h.name, latestVersion: h.latestVersion, activeVersion: p?.offerId === h.id ? p.version : null, createdAt: h.createdAt, updatedAt: h.updatedAt,
      }]).sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime() || (a.id < b.id ? -1 : 1))
    },
    async versions (id) {
      await header(id)
      const p = await pointer()
      const docs = await offers.find({ _id: { $gte: `v:${id}:`, $lt: `v:${id};` } } as never).sort({ _id: -1 }).limit(1000).toArray()
      return docs.map((d) => fromDoc(d, p)).filter((o): o is Offer => o !== null)
    },
    async create (input, actor) {
      return await insertVersion(newId('of'), resolve(input), actor, true)
    },
    async update (id, input, actor) {
      const h = await header(id)
      if (h.archived) throw new LS_ERR_OFFER_NOT_FOUND(id)
      return await insertVersion(id, resolve(input), actor, false)
    },
    async activate (id, version, actor) {
      const h = await header(id)
      if (h.archived) throw new LS_ERR_OFFER_NOT_FOUND(id)
      const v = version ?? h.latestVersion
      if (await offers.findOne({ _id: versionId(id, v) }) === null) throw new LS_ERR_OFFER_NOT_FOUND(`${id} version ${v}`)
      // one pointer document: whichever activation writes last wins, and there is never more than one active offer
      await offers.replaceOne({ _id: 'active' }, { kind: 'active', offerId: id, version: v, at: now(), by: actor } as never, { upsert: true })
      cached = null
      return (await get(id, v))!
    },
    async deactivate () {
      const r = await offers.deleteOne({ _id: 'active' })
      cached = null
      return r.deletedCount > 0
    },
    async archive (id) {
      await header(id)
      if ((await pointer())?.offerId === id) throw new LS_ERR_OFFER_ACTIVE(id)
      await offers.updateOne({ _id: `o:${id}` }, { $set: { archived: true, updatedAt: now() } })
    },
  }
}
