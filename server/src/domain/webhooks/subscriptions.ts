// Webhook subscriptions: receiver URL, event types and filters, and the Standard Webhooks signing secret.
import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import type { Collections } from '../../infra/db.js'
import type { DeliveryDoc, NotificationDoc, WebhookDoc, WebhookEventType } from '../types.js'
import { newId } from '../../lib/ids.js'
import { LS_ERR_WEBHOOK_NOT_FOUND, LS_ERR_WEBHOOK_URL_INVALID } from '../../errors.js'
import { webhookUrlProblem } from './send.js'
import type { SecretBox } from '../../lib/secret-box.js'

/** Event types a subscription can ask for. */
export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = ['lead.stage_changed', 'lead.grade_changed']

/** A new signing secret: `whsec_` + base64 of 32 random bytes (Standard Webhooks). */
export function newWebhookSecret (): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

/**
 * The Standard Webhooks headers of one request. During a rotation's grace period the previous secret signs too
 * (`webhook-signature` then lists both signatures, separated by a space), so receivers can switch secrets at leisure.
 */
export function signedHeaders (sub: Pick<WebhookDoc, 'secret' | 'previousSecret' | 'previousSecretExpiresAt'>, msgId: string, body: string, at: Date): Record<string, string> {
  const signatures = [new Webhook(sub.secret).sign(msgId, at, body)]
  if (sub.previousSecret != null && sub.previousSecretExpiresAt != null && sub.previousSecretExpiresAt.getTime() > at.getTime()) {
    signatures.push(new Webhook(sub.previousSecret).sign(msgId, at, body))
  }
  return {
    'content-type': 'application/json',
    'user-agent': 'Leadscore-Webhooks/1',
    'webhook-id': msgId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  }
}

/** Whether a subscription wants a notification: its type, and for stage (grade) changes, the stage (grade) filter. */
export function subscriptionMatches (sub: WebhookDoc, n: Pick<NotificationDoc, 'type' | 'kind' | 'from' | 'to'>): boolean {
  if (sub.status !== 'active' || !sub.events.includes(n.type)) return false
  const filter = n.kind === 'stage' ? sub.stages : sub.grades
  return filter == null || filter.includes(n.to) || filter.includes(n.from)
}

export interface WebhookInput {
  url: string
  events: WebhookEventType[]
  stages?: string[] | null
  grades?: string[] | null
  description?: string | null
}

export function createSubscriptionService (deps: { c: Collections; now: () => Date; allowPrivate: boolean }) {
  const { c, now } = deps
  // signing secrets are stored sealed (lib/secret-box.ts); the box is given by buildApp before anything is served
  let box: SecretBox | null = null
  const secrets = (): SecretBox => {
    if (box === null) throw new Error('webhook subscriptions: no secret box (useSecrets was not called)')
    return box
  }
  /** The subscription with its secrets in plain text, for signing (and for the one answer that shows a new secret). */
  function reveal (doc: WebhookDoc): WebhookDoc {
    return { ...doc, secret: secrets().open(doc.secret), previousSecret: doc.previousSecret === null ? null : secrets().open(doc.previousSecret) }
  }

  function checkUrl (url: string): void {
    const problem = webhookUrlProblem(url, deps.allowPrivate)
    if (problem !== null) throw new LS_ERR_WEBHOOK_URL_INVALID(problem)
  }

  async function get (id: string): Promise<WebhookDoc> {
    const doc = await c.webhooks.findOne({ _id: id })
    if (doc === null) throw new LS_ERR_WEBHOOK_NOT_FOUND(id)
    return doc
  }

  return {
    get,
    reveal,
    /** Sets the key stored secrets are sealed with. */
    useSecrets (b: SecretBox): void { box = b },
    /**
     * Seals secrets stored in plain text (before encryption) or under a previous key; a secret sealed with an unknown
     * key fails here, at boot.
     */
    async sealStored (): Promise<number> {
      let sealed = 0
      for (const doc of await c.webhooks.find({}).toArray()) {
        const set = { secret: secrets().reseal(doc.secret), previousSecret: doc.previousSecret === null ? null : secrets().reseal(doc.previousSecret) }
        if (set.secret === doc.secret && set.previousSecret === doc.previousSecret) continue
        // only if no rotation happened meanwhile
        await c.webhooks.updateOne({ _id: doc._id, secret: doc.secret, previousSecret: doc.previousSecret }, { $set: set })
        sealed++
      }
      return sealed
    },
    async list (): Promise<WebhookDoc[]> {
      return await c.webhooks.find({}).sort({ createdAt: -1 }).limit(1000).toArray()
    },
    /** Creates a subscription; the returned secret (in plain text) is stored sealed for signing and never shown again. */
    async create (input: WebhookInput, actor: string): Promise<WebhookDoc> {
      checkUrl(input.url)
      const t = now()
      const secret = newWebhookSecret()
      const doc: WebhookDoc = {
        _id: newId('wh'), url: input.url, events: [...new Set(input.events)], stages: input.stages ?? null, grades: input.grades ?? null,
        description: input.description ?? null, status: 'active', disabledReason: null, disabledAt: null, secret: secrets().seal(secret),
        previousSecret: null, previousSecretExpiresAt: null, createdBy: actor, createdAt: t, updatedAt: t,
      }
      await c.webhooks.insertOne(doc)
      return { ...doc, secret }
    },
    /** Changes some fields; `enabled: true` re-activates a subscription disabled by a 410 answer. */
    async update (id: string, patch: Partial<WebhookInput> & { enabled?: boolean }): Promise<WebhookDoc> {
      await get(id)
      const set: Partial<WebhookDoc> = { updatedAt: now() }
      if (patch.url !== undefined) { checkUrl(patch.url); set.url = patch.url }
      if (patch.events !== undefined) set.events = [...new Set(patch.events)]
      if (patch.stages !== undefined) set.stages = patch.stages
      if (patch.grades !== undefined) set.grades = patch.grades
      if (patch.description !== undefined) set.description = patch.description
      if (patch.enabled === true) Object.assign(set, { status: 'active', disabledReason: null, disabledAt: null })
      if (patch.enabled === false) Object.assign(set, { status: 'disabled', disabledReason: 'disabled by an admin', disabledAt: now() })
      await c.webhooks.updateOne({ _id: id }, { $set: set })
      return await get(id)
    },
    /** Deletes the subscription and its delivery log; queued deliveries are dropped when their turn comes. */
    async remove (id: string): Promise<void> {
      await get(id)
      await c.webhooks.deleteOne({ _id: id })
      await c.webhookDeliveries.deleteMany({ webhookId: id })
    },
    /** A new secret (returned in plain text); the old one keeps signing for `graceSeconds` (0: replaced at once). */
    async rotateSecret (id: string, graceSeconds: number): Promise<WebhookDoc> {
      const doc = await get(id)
      const t = now()
      const secret = newWebhookSecret()
      await c.webhooks.updateOne({ _id: id }, {
        $set: {
          secret: secrets().seal(secret), updatedAt: t,
          previousSecret: graceSeconds > 0 ? secrets().seal(secrets().open(doc.secret)) : null,
          previousSecretExpiresAt: graceSeconds > 0 ? new Date(t.getTime() + graceSeconds * 1000) : null,
        },
      })
      return { ...await get(id), secret }
    },
    /** Marks a subscription disabled (the receiver answered 410 Gone). */
    async disable (id: string, reason: string): Promise<void> {
      await c.webhooks.updateOne({ _id: id, status: 'active' }, { $set: { status: 'disabled', disabledReason: reason, disabledAt: now(), updatedAt: now() } })
    },
    async deliveries (id: string, limit: number): Promise<DeliveryDoc[]> {
      await get(id)
      return await c.webhookDeliveries.find({ webhookId: id }).sort({ createdAt: -1 }).limit(limit).toArray()
    },
  }
}

export type SubscriptionService = ReturnType<typeof createSubscriptionService>
