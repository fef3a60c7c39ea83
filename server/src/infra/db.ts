import { Long, MongoClient, MongoServerError, type Collection, type Db, type IndexDescription } from 'mongodb'
import type { Document, Filter, OptionalUnlessRequiredId, WithId } from 'mongodb'
import type {
  LeadDoc, EventDoc, LedgerDoc, RulesetDoc, RejectDoc, IdempotencyDoc, LockDoc, ApiKeyDoc, LiveDoc, AuditDoc, JobDoc, UserDoc, SessionDoc,
  NotificationDoc, WebhookQueueDoc, LeadAliasDoc, NotificationHoldDoc, WebhookDoc, DeliveryDoc, WebhookClaimDoc, PluginInstanceDoc, SourceStateDoc, SourceStatsDoc, UploadDoc,
} from '../domain/types.js'
import type { ModelDoc, DeploymentDoc, EvaluationDoc } from '../domain/predictive/registry.js'
import type { SuppressionDoc } from '../domain/privacy/suppression.js'
import type { OfferStoreDoc } from '../domain/offers/offer-service.js'
import type { IntentQueueDoc, IntentCacheDoc, IntentStateDoc } from '../domain/intent/service.js'
import type { TrackingPlanDoc } from '../domain/events/tracking-plan.js'
import type { ViolationCounterDoc } from '../domain/events/violation-counters.js'

/** The collections the product uses, typed. */
export interface Collections {
  leads: Collection<LeadDoc>
  events: Collection<EventDoc>
  scoreHistory: Collection<LedgerDoc>
  rulesets: Collection<RulesetDoc>
  /** Offers, their immutable versions and the active pointer, all found by `_id` (domain/offers/offer-service.ts). */
  offers: Collection<OfferStoreDoc>
  ingestRejects: Collection<RejectDoc>
  idempotencyKeys: Collection<IdempotencyDoc>
  /** Where a query on `expiresAt` reads every key (FerretDB): `~exp|<expiresAt ISO>|<key id>` per key, purged by range. */
  idempotencyExpiry: Collection<{ _id: string }>
  locks: Collection<LockDoc>
  apiKeys: Collection<ApiKeyDoc>
  users: Collection<UserDoc>
  sessions: Collection<SessionDoc>
  liveFeed: Collection<LiveDoc>
  auditLog: Collection<AuditDoc>
  jobs: Collection<JobDoc>
  /** File uploads and their progress; `_id` `up_…`. */
  uploads: Collection<UploadDoc>
  /** One marker per lead with events waiting to be scored (insert-only coalescing of scoring runs). */
  pendingLeads: Collection<{ _id: string; at: Date }>
  /**
   * Which lead carries a lead external id that is not its key (`_id` `ext:<id>`): an index that answers by `_id`,
   * so resolving an event that names only an external id never reads the leads collection.
   */
  leadAliases: Collection<LeadAliasDoc>
  /** Outbound webhook subscriptions. */
  webhooks: Collection<WebhookDoc>
  /** The notification outbox: one document per stage/grade crossing, keyed by the crossing's identity. */
  notifications: Collection<NotificationDoc>
  /** Notifications held while a bulk re-score runs. */
  notificationHolds: Collection<NotificationHoldDoc>
  /** The dispatcher's small work list (fan-outs and due deliveries). */
  webhookQueue: Collection<WebhookQueueDoc>
  /** One document per (notification, subscription): the delivery log. */
  webhookDeliveries: Collection<DeliveryDoc>
  /** Insert-only claims of delivery attempts. */
  webhookClaims: Collection<WebhookClaimDoc>
  /** Where a query on `expiresAt` reads every claim (FerretDB): `~exp|<expiresAt ISO>|<claim id>` per claim, purged by range. */
  webhookClaimExpiry: Collection<{ _id: string }>
  /** Run-time configured source instances (plugin-host/). */
  pluginInstances: Collection<PluginInstanceDoc>
  /** Per-instance key-value store of source plugins (cursors, tokens). */
  sourceState: Collection<SourceStateDoc>
  /** Per-source, per-process delivery counters. */
  sourceStats: Collection<SourceStatsDoc>
  /** Trained predictive models (the registry). */
  models: Collection<ModelDoc>
  /** Insert-only history of which model is champion and challenger. */
  modelDeployments: Collection<DeploymentDoc>
  /** The holdout rows each model was evaluated on (for bias reports). */
  modelEvaluations: Collection<EvaluationDoc>
  /** The lead index: one document per sort or search key of a lead, `_id` the key (domain/lead-views/keys.ts). */
  leadIndex: Collection<{ _id: string }>
  /** Counters kept at write time for analytics and stats (domain/lead-views/counters.ts). */
  aggregates: Collection<{ _id: string; [field: string]: unknown }>
  /** When each lead next decays, `_id` `<due time>|<lead id>` (domain/scoring/decay-schedule.ts). */
  decaySchedule: Collection<{ _id: string; leadId?: string; settings?: string; builtAt?: Date }>
  /** What storing requests intend to store, until their leads are queued (domain/events/ingest-journal.ts). */
  ingestJournal: Collection<{ _id: string; leads: string[]; at: Date }>
  /** Hashed identities of leads erased on request: ingest refuses their events (domain/privacy/suppression.ts). */
  suppressions: Collection<SuppressionDoc>
  /** Leads waiting for an AI intent classification, `_id` the lead id (domain/intent/). */
  intentQueue: Collection<IntentQueueDoc>
  /** Intent answers per (lead profile, offer version, model), `_id` their hash. */
  intentCache: Collection<IntentCacheDoc>
  /** Each lead's last intent classification, `_id` the lead id. */
  intentState: Collection<IntentStateDoc>
  /** Tracking plan versions, `_id` `v:<version>` (domain/events/tracking-plan.ts). */
  trackingPlans: Collection<TrackingPlanDoc>
  /** Tracking plan violations per type and source, one document per process slot (domain/events/violation-counters.ts). */
  trackingViolations: Collection<ViolationCounterDoc>
}

/** An open database: the client, the Db and its collections. */
export interface Database {
  client: MongoClient
  db: Db
  c: Collections
  /** true when the server is FerretDB (some features take a documented fallback). */
  ferret: boolean
  /**
   * true when `{ _id: { $in: [...] } }` is answered from the `_id` index: always on MongoDB; on FerretDB 1.24 only
   * with the patch the install step applies (a released build reads the whole collection, so callers then look
   * documents up one by one instead). Found out with `explain`.
   */
  idIn: boolean
  /**
   * true when a filter of `_id` and further conditions is answered from the `_id` index (MongoDB; the embedded
   * FerretDB build). Elsewhere conditional writes by `_id` are looked up first and written by `_id` alone.
   */
  idAnd: boolean
  /**
   * true when a find whose filter is a range of string `_id`s (`{ _id: { $gte, $lt } }`), sorted by `_id` alone or not
   * at all, with a limit, is answered from an index in `_id` order and stops at the limit: MongoDB; the embedded
   * FerretDB build (its fifth patch). Elsewhere such a find reads and sorts the whole collection.
   */
  idRange: boolean
  close(): Promise<void>
}

// Indexes per collection. TTL options are applied only where the server supports them; expiry is never relied
// on (purges run as queries), so FerretDB, which lacks TTL, behaves the same. A lead's `_id` is a hash of its key and
// an event's `_id` names its lead and seq (domain/ids.ts), so the `_id` index alone keeps those unique.
const INDEXES: Record<keyof Collections, Array<IndexDescription & { ttl?: number }>> = {
  leads: [
    { key: { score: -1, _id: 1 }, name: 'score_desc' },
    { key: { stage: 1, score: -1 }, name: 'stage_score' },
    { key: { status: 1, score: -1 }, name: 'status_score' },
    { key: { updatedAt: -1, _id: 1 }, name: 'updated_desc' },
    { key: { createdAt: -1, _id: 1 }, name: 'created_desc' },
    { key: { lastEventAt: -1, _id: 1 }, name: 'last_event_desc' },
    { key: { sources: 1 }, name: 'sources' },
    { key: { nextSeq: 1, lastSeq: 1 }, name: 'watermark' },
  ],
  events: [
    { key: { sourceId: 1, externalId: 1 }, name: 'source_external_unique', unique: true },
    { key: { leadId: 1, ord: 1 }, name: 'lead_ord' },
    { key: { status: 1, receivedAt: 1 }, name: 'status_received' },
    { key: { receivedAt: -1 }, name: 'received_desc' },
    { key: { type: 1 }, name: 'type' },
  ],
  scoreHistory: [
    { key: { leadId: 1, ord: 1 }, name: 'lead_ord' },
    { key: { leadId: 1, batch: 1 }, name: 'lead_batch' },
  ],
  offers: [],
  rulesets: [
    { key: { name: 1, version: 1 }, name: 'name_version_unique', unique: true },
    { key: { status: 1 }, name: 'status' },
  ],
  ingestRejects: [{ key: { receivedAt: -1 }, name: 'received_desc' }, { key: { requestId: 1 }, name: 'request' }, { key: { sourceId: 1, receivedAt: -1 }, name: 'source_received' }, { key: { requestId: 1, index: 1 }, name: 'request_index' }],
  idempotencyKeys: [{ key: { expiresAt: 1 }, name: 'expires', ttl: 0 }],
  idempotencyExpiry: [],
  locks: [{ key: { expiresAt: 1 }, name: 'expires' }],
  apiKeys: [{ key: { hash: 1 }, name: 'hash_unique', unique: true }],
  users: [{ key: { email: 1 }, name: 'email_unique', unique: true }, { key: { role: 1 }, name: 'role' }],
  sessions: [{ key: { userId: 1 }, name: 'user' }, { key: { expiresAt: 1 }, name: 'expires', ttl: 0 }],
  liveFeed: [{ key: { at: 1 }, name: 'at' }],
  auditLog: [{ key: { at: -1 }, name: 'at_desc' }],
  jobs: [{ key: { createdAt: -1 }, name: 'created_desc' }],
  uploads: [{ key: { fingerprint: 1 }, name: 'fingerprint' }, { key: { status: 1 }, name: 'status' }],
  pendingLeads: [{ key: { at: 1 }, name: 'at' }],
  leadAliases: [{ key: { leadId: 1 }, name: 'lead' }],
  webhooks: [{ key: { createdAt: -1 }, name: 'created_desc' }],
  notifications: [{ key: { leadId: 1, createdAt: 1 }, name: 'lead_created' }],
  notificationHolds: [{ key: { leadId: 1 }, name: 'lead' }],
  webhookQueue: [{ key: { kind: 1, dueAt: 1 }, name: 'kind_due' }],
  webhookDeliveries: [{ key: { webhookId: 1, createdAt: -1 }, name: 'webhook_created' }, { key: { leadId: 1 }, name: 'lead' }],
  webhookClaims: [{ key: { expiresAt: 1 }, name: 'expires' }],
  webhookClaimExpiry: [],
  pluginInstances: [{ key: { type: 1 }, name: 'type' }, { key: { createdAt: -1 }, name: 'created_desc' }],
  sourceState: [{ key: { instanceId: 1 }, name: 'instance' }],
  sourceStats: [{ key: { sourceId: 1 }, name: 'source' }],
  models: [{ key: { version: 1 }, name: 'version_unique', unique: true }],
  modelDeployments: [{ key: { seq: 1 }, name: 'seq_unique', unique: true }],
  modelEvaluations: [],
  leadIndex: [],
  aggregates: [],
  decaySchedule: [],
  ingestJournal: [],
  suppressions: [],
  intentQueue: [],
  intentCache: [],
  intentState: [],
  trackingPlans: [],
  trackingViolations: [],
}

/**
 * Indexes older versions created that no version needs: `key_unique` of the leads and `lead_seq_unique` of the events
 * repeated what their `_id`s already keep unique (see INDEXES), at the cost of one more index entry per write (on
 * FerretDB, one more parse of the document's JSON on every insert and update of a lead or event).
 */
const RETIRED: Partial<Record<keyof Collections, string[]>> = {
  leads: ['key_unique'],
  events: ['lead_seq_unique'],
}

function isNotImplemented (err: unknown): boolean {
  return err instanceof MongoServerError && (err.code === 238 || err.code === 115)
}

/**
 * Creates every index (idempotent). Runs at boot so a bad deployment fails before serving.
 *
 * On FerretDB (`ferret`) only the unique indexes are created, and non-unique ones an older version created are
 * dropped: FerretDB 1.24 answers every query on a field other than `_id` by reading the collection, so a non-unique
 * index is never read, while SQLite recomputes every index expression of a document (a parse of its JSON each) on
 * each insert and update. The unique ones stay: they are constraints (event external ids, API key hashes, user
 * emails). On every server, the indexes in RETIRED are dropped where an older version left them.
 */
export async function ensureIndexes (db: Db, opts: { ferret?: boolean } = {}): Promise<void> {
  for (const [name, all] of Object.entries(INDEXES)) {
    const col = db.collection(name)
    const specs = opts.ferret === true ? all.filter((s) => s.unique === true) : all
    // what an older version may have left: the retired indexes, and on FerretDB the ones it no longer creates
    const unused = new Set([...RETIRED[name as keyof Collections] ?? [], ...all.filter((s) => !specs.includes(s)).map((s) => s.name)])
    if (unused.size > 0) {
      const existing = await col.listIndexes().toArray().catch(() => [] as Document[])
      for (const ix of existing) if (unused.has(ix.name as string)) await col.dropIndex(ix.name as string)
    }
    for (const { ttl, ...spec } of specs) {
      const options: Document = { name: spec.name }
      if (spec.unique === true) options.unique = true
      if (ttl !== undefined) {
        try {
          await col.createIndex(spec.key, { ...options, expireAfterSeconds: ttl })
          continue
        } catch (err) {
          if (!isNotImplemented(err)) throw err
        }
      }
      await col.createIndex(spec.key, options)
    }
  }
}

/**
 * Connects, detects FerretDB and ensures indexes. `monitorCommands` makes the client emit the driver's command events
 * (benchmarks count what each command costs; the server never turns it on).
 */
export async function openDatabase (uri: string, dbName: string, opts: { monitorCommands?: boolean } = {}): Promise<Database> {
  const client = new MongoClient(uri, {
    writeConcern: { w: 'majority' },
    retryWrites: true,
    serverSelectionTimeoutMS: 10_000,
    maxPoolSize: 50,
    ignoreUndefined: true,
    monitorCommands: opts.monitorCommands === true,
  })
  await client.connect()
  const db = client.db(dbName)
  let ferret = false
  try {
    const info = await db.admin().command({ buildInfo: 1 })
    ferret = typeof info.ferretdbVersion === 'string' || typeof info.ferretdb === 'object'
  } catch { /* older servers: assume MongoDB */ }
  await ensureIndexes(db, { ferret })
  let idIn = !ferret
  // whether a filter of `_id` and other conditions is served from the `_id` index (the embedded build's fourth patch)
  let idAnd = !ferret
  // whether a range of string `_id`s is read in order from an index, with the limit applied (the fifth patch)
  let idRange = !ferret
  if (ferret) {
    try {
      // FerretDB explains a find on a collection that does not exist yet as a scan: the probe's collection must exist
      // (a new database's leads have no index that would have created it)
      await db.createCollection('leads').catch((err: unknown) => { if (!(err instanceof MongoServerError && err.code === 48)) throw err })
      const plan = await db.collection('leads').find({ _id: { $in: ['ld_probe'] } } as never).explain() as { filterPushdown?: unknown }
      idIn = plan.filterPushdown === true
      const and = await db.collection('leads').find({ _id: 'ld_probe', rev: 0 } as never).explain() as { filterPushdown?: unknown }
      idAnd = and.filterPushdown === true
      const range = await db.collection('leads').find({ _id: { $gte: 'a', $lt: 'b' } } as never).sort({ _id: 1 }).limit(2).explain() as { sortPushdown?: unknown, limitPushdown?: unknown }
      idRange = range.sortPushdown === true && range.limitPushdown === true
    } catch { /* no explain: look documents up one by one */ }
  }
  const names = ['leads', 'events', 'scoreHistory', 'rulesets', 'offers', 'ingestRejects', 'idempotencyKeys', 'idempotencyExpiry', 'locks', 'apiKeys',
    'users', 'sessions', 'liveFeed', 'auditLog', 'jobs', 'pendingLeads', 'leadAliases', 'webhooks', 'notifications', 'notificationHolds',
    'webhookQueue', 'webhookDeliveries', 'webhookClaims', 'webhookClaimExpiry', 'pluginInstances', 'sourceState', 'sourceStats', 'uploads',
    'models', 'modelDeployments', 'modelEvaluations', 'leadIndex', 'aggregates', 'decaySchedule', 'ingestJournal', 'suppressions', 'intentQueue', 'intentCache', 'intentState',
    'trackingPlans', 'trackingViolations'] as const
  const c = Object.fromEntries(names.map((n) => [n, withTransientRetry(ferret && !idAnd ? withIdLookups(db.collection(n)) : db.collection(n))])) as unknown as Collections
  for (const col of Object.values(c)) databaseOf.set(col, db)
  return { client, db, c, ferret, idIn, idAnd, idRange, close: async () => { await client.close() } }
}

/**
 * true for an error that a retry fixes: FerretDB on SQLite answers "database is locked" (SQLITE_BUSY) when another
 * connection holds the write lock, and MongoDB reports interruptions and elections with these codes. Such a write
 * did not happen, so retrying it is safe.
 */
export function isTransient (err: unknown): boolean {
  if (!(err instanceof MongoServerError)) return false
  if (err.code === 1 && /database is locked|SQLITE_BUSY/i.test(err.message)) return true
  return [6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436].includes(Number(err.code))
}

/** Runs `fn`, retrying transient failures with jittered backoff (about 3 s in all). */
export async function retryTransient<T> (fn: () => Promise<T>, attempts = 10): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn()
    } catch (err) {
      if (i >= attempts - 1 || !isTransient(err)) throw err
      await new Promise((r) => setTimeout(r, Math.min(1000, 10 * 2 ** i) * (0.5 + Math.random())))
    }
  }
}

// Single-document operations and plain reads are retried on transient errors. insertMany and bulkWrite are not:
// part of a batch may have been written, so their callers resolve failures document by document.
const RETRIED = new Set(['insertOne', 'updateOne', 'updateMany', 'deleteOne', 'deleteMany', 'findOne', 'findOneAndUpdate',
  'findOneAndDelete', 'replaceOne', 'countDocuments', 'estimatedDocumentCount', 'distinct'])

function withTransientRetry<T extends Document> (col: Collection<T>): Collection<T> {
  return new Proxy(col, {
    get (target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown
      if (typeof prop !== 'string' || !RETRIED.has(prop) || typeof v !== 'function') return v
      return (...args: unknown[]) => retryTransient(() => (v as (...a: unknown[]) => Promise<unknown>).apply(target, args))
    },
  })
}

/** A filter of `_id` equality plus other plain equalities (dotted paths allowed), else null. */
function idWithEqualities (filter: unknown): { id: string; conds: Array<[string[], unknown]> } | null {
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) return null
  const f = filter as Record<string, unknown>
  if (typeof f._id !== 'string') return null
  const conds: Array<[string[], unknown]> = []
  for (const [k, v] of Object.entries(f)) {
    if (k === '_id') continue
    if (k.startsWith('$') || (v !== null && typeof v === 'object' && !(v instanceof Date))) return null
    conds.push([k.split('.'), v])
  }
  return conds.length > 0 ? { id: f._id, conds } : null
}

/** Whether a document meets plain equalities as the server would judge them; undefined when arrays make it unclear. */
export function meetsEqualities (doc: Record<string, unknown>, conds: ReadonlyArray<[string[], unknown]>): boolean | undefined {
  for (const [path, want] of conds) {
    let cur: unknown = doc
    for (const part of path) {
      if (Array.isArray(cur)) return undefined
      cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[part] : undefined
    }
    if (Array.isArray(cur)) return undefined
    if (want === null) { if (cur != null) return false; continue }
    if (want instanceof Date) { if (!(cur instanceof Date) || cur.getTime() !== want.getTime()) return false; continue }
    if (cur !== want) return false
  }
  return true
}

const NO_MATCH = { acknowledged: true, matchedCount: 0, modifiedCount: 0, upsertedCount: 0, upsertedId: null }

/**
 * FerretDB serves a query from an index only when its filter is `_id` alone: `{ _id, owner }` reads the whole
 * collection. So on FerretDB an update or delete by `_id` with further equalities reads the document by `_id`, checks
 * the rest here and writes by `_id`. That is what FerretDB itself does with such a filter (it finds the documents,
 * then writes each one by `_id`; neither server step is atomic with the other there), only without the scan. Filters
 * with operators, upserts and documents whose arrays would need the server's matching rules go to the server as they
 * are. On MongoDB, where the conditional update is atomic, collections are used unwrapped.
 */
function withIdLookups<T extends Document> (col: Collection<T>): Collection<T> {
  const updateOne = col.updateOne.bind(col) as (f: unknown, u: unknown, o?: { upsert?: boolean }) => Promise<unknown>
  const deleteOne = col.deleteOne.bind(col) as (f: unknown, o?: unknown) => Promise<unknown>
  /** Runs `write` with `{ _id }` when the document meets the filter's other equalities, else answers `noMatch`. */
  const byId = async (filter: unknown, noMatch: unknown, write: (f: unknown) => Promise<unknown>): Promise<unknown> => {
    const q = idWithEqualities(filter)
    if (q === null) return await write(filter)
    const doc = await col.findOne({ _id: q.id } as never) as Record<string, unknown> | null
    if (doc === null) return noMatch
    const ok = meetsEqualities(doc, q.conds)
    if (ok === undefined) return await write(filter)
    return ok ? await write({ _id: q.id }) : noMatch
  }
  return new Proxy(col, {
    get (target, prop, receiver) {
      if (prop === 'updateOne') {
        return async (filter: unknown, update: unknown, options?: { upsert?: boolean }) => options?.upsert === true
          ? await updateOne(filter, update, options)
          : await byId(filter, NO_MATCH, async (f) => await updateOne(f, update, options))
      }
      if (prop === 'deleteOne') {
        return async (filter: unknown, options?: unknown) => await byId(filter, { acknowledged: true, deletedCount: 0 }, async (f) => await deleteOne(f, options))
      }
      return Reflect.get(target, prop, receiver) as unknown
    },
  })
}

/**
 * Most `_id`s one `{ _id: { $in } }` query names: the embedded FerretDB answers lists up to this long from its `_id`
 * index (scripts/ferretdb.mjs); callers with more split them.
 */
export const ID_LIST_MAX = 1000

/** `ids` in pieces of at most {@link ID_LIST_MAX}. */
export function idLists (ids: readonly string[]): string[][] {
  const out: string[][] = []
  for (let i = 0; i < ids.length; i += ID_LIST_MAX) out.push(ids.slice(i, i + ID_LIST_MAX))
  return out
}

/** The database of each collection `openDatabase` made: `findByIds` sends its reads there as plain commands. */
const databaseOf = new WeakMap<object, Db>()

/** The documents with these `_id`s (a query per {@link ID_LIST_MAX} of them), with the projection given. */
export async function findByIds<T extends Document, P extends Document = WithId<T>> (col: Collection<T>, ids: readonly string[], projection?: Document): Promise<P[]> {
  const out: P[] = []
  const db = databaseOf.get(col)
  for (const part of idLists(ids)) {
    // one batch for the whole list (one more than it can match, so the server sees the cursor end): no getMore
    const batchSize = part.length + 1
    const filter = { _id: { $in: part } }
    const whole = db !== undefined ? await findInOneBatch<P>(db, col.collectionName, filter, batchSize, projection, col.readConcern?.level) : null
    out.push(...whole ?? await col.find(filter as Filter<T>, { batchSize, ...(projection !== undefined ? { projection } : {}) }).toArray() as unknown as P[])
  }
  return out
}

/**
 * A find sent as a plain command, when its first batch holds every match (null otherwise: the caller reads through a
 * cursor). Ingest and scoring read leads, events, markers and locks by `_id` list a few times per batch, and for such
 * a read the driver's cursor machinery cost the client about twice the CPU of the command itself (218-306 against
 * 141-164 µs per read of ten documents, measured with the embedded database; docs/architecture.md §1). A batch can end early only past the
 * server's 16 MB reply limit; that cursor is closed and the read goes through the driver's cursor instead.
 */
export async function findInOneBatch<P> (db: Db, collection: string, filter: Document, batchSize: number, projection?: Document, readConcern?: string): Promise<P[] | null> {
  // a command takes no read concern from the client as a cursor does (a connection string may set one)
  const reply = await retryTransient(async () => await db.command({
    find: collection, filter, batchSize, ...(projection !== undefined ? { projection } : {}), ...(readConcern !== undefined ? { readConcern: { level: readConcern } } : {}),
  }))
  const cursor = reply.cursor as { id: number | bigint | { isZero(): boolean }; firstBatch: P[] }
  const id = cursor.id
  if (id === 0 || id === 0n || (typeof id === 'object' && id.isZero())) return cursor.firstBatch
  // a cursor opened under the command's implicit session may refuse to be closed from another: it then times out
  await db.command({ killCursors: collection, cursors: [typeof id === 'number' ? Long.fromNumber(id) : id] }).catch(() => undefined)
  return null
}

/**
 * Inserts documents in one unordered batch; a document whose `_id` is taken is skipped (a retry's own earlier
 * write). Returns how many this call stored.
 */
export async function insertNewOnes<T extends Document> (col: Collection<T>, docs: Array<OptionalUnlessRequiredId<T>>): Promise<number> {
  if (docs.length === 0) return 0
  try {
    return (await col.insertMany(docs, { ordered: false })).insertedCount
  } catch (err) {
    if (!isDuplicateKey(err)) throw err
    const n = (err as { insertedCount?: unknown; result?: { insertedCount?: unknown } }).insertedCount ?? (err as { result?: { insertedCount?: unknown } }).result?.insertedCount
    return typeof n === 'number' ? n : 0
  }
}

/**
 * Inserts documents in one unordered batch, skipping those whose unique key is already taken. When the batch fails
 * for another reason (a transient error may leave it partly stored), each document is inserted on its own.
 */
export async function insertIgnoringDuplicates<T extends Document> (col: Collection<T>, docs: Array<OptionalUnlessRequiredId<T>>): Promise<void> {
  if (docs.length === 0) return
  try {
    await col.insertMany(docs, { ordered: false })
    return
  } catch (err) {
    const writeErrors = (err as { writeErrors?: Array<{ code?: number }> | { code?: number } }).writeErrors
    const list = Array.isArray(writeErrors) ? writeErrors : writeErrors !== undefined ? [writeErrors] : []
    if (isDuplicateKey(err) && list.length > 0 && list.every((we) => we.code === undefined || we.code === 11000)) return
    if (!isTransient(err) && list.length === 0) throw err
  }
  for (const doc of docs) {
    try {
      await retryTransient(async () => await col.insertOne(doc))
    } catch (err) {
      if (!isDuplicateKey(err)) throw err
    }
  }
}

/**
 * The indexes of the documents an unordered `insertMany` refused as duplicates, or null when it failed otherwise (or
 * the server did not say which).
 */
export function duplicateWriteErrors (err: unknown): Set<number> | null {
  if (!isDuplicateKey(err)) return null
  const writeErrors = (err as { writeErrors?: Array<{ index: number; code?: number }> | { index: number; code?: number } }).writeErrors
  const list = Array.isArray(writeErrors) ? writeErrors : writeErrors !== undefined ? [writeErrors] : null
  if (list === null || list.some((we) => we.code !== undefined && we.code !== 11000)) return null
  return new Set(list.map((we) => we.index))
}

/** true for a duplicate-key error (E11000). FerretDB does not name the index, so callers re-check which key clashed. */
export function isDuplicateKey (err: unknown): boolean {
  return err instanceof MongoServerError && err.code === 11000
}
