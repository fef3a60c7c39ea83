import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { SourceAuthError, type InboundRequest } from '@leadscore/server/contracts'
import type { MappingT } from './mapping.js'

/** The sender conventions a webhook source understands. */
export type AdapterName = 'standard' | 'stripe' | 'github'

/** What verification learned about a delivery, for mapping. */
export interface Verified { deliveryId?: string; headerType?: string }

export interface Adapter {
  /** Checks the delivery against every valid secret (newest first); throws SourceAuthError with one of the webhook codes. */
  verify(req: InboundRequest, secrets: readonly string[], nowMs: number, toleranceSeconds: number): void
  /** The delivery id and header type of a delivery `verify` accepted. */
  identify(req: InboundRequest): Verified
  /** Where this sender keeps the lead, type, time and id. */
  defaults: MappingT
}

const MAX_SIGNATURES = 20
const MAX_SIGNATURE_HEADER = 4096
const DELIVERY_ID_RE = /^[\x21-\x2d\x2f-\x7e]{1,128}$/ // printable ASCII without spaces and dots
const TIMESTAMP_RE = /^\d{1,12}$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

const missing = (what: string): SourceAuthError => new SourceAuthError(`missing header ${what}`, { code: 'LS_ERR_WEBHOOK_HEADER_MISSING' })
const malformed = (what: string): SourceAuthError => new SourceAuthError(what, { code: 'LS_ERR_WEBHOOK_HEADER_INVALID' })
const badSignature = (what: string): SourceAuthError => new SourceAuthError(what, { code: 'LS_ERR_WEBHOOK_SIGNATURE' })

/** One header value: absent → undefined; sent twice → refused (a proxy may have merged two requests' headers). */
function single (req: InboundRequest, name: string): string | undefined {
  const v = req.headers[name]
  if (v === undefined) return undefined
  if (Array.isArray(v)) throw malformed(`${name} was sent more than once`)
  return v
}

/** A strict decimal Unix timestamp within ±tolerance of now (the library's parseInt accepts "1700000000abc"). */
function checkTimestamp (text: string, nowMs: number, toleranceSeconds: number, header: string): number {
  if (!TIMESTAMP_RE.test(text)) throw malformed(`${header} must be a Unix timestamp in seconds (digits only)`)
  const ts = Number(text)
  const skew = Math.floor(nowMs / 1000) - ts
  if (skew > toleranceSeconds) throw new SourceAuthError(`the timestamp is ${skew} s old; the tolerance is ${toleranceSeconds} s`, { code: 'LS_ERR_WEBHOOK_TIMESTAMP' })
  if (-skew > toleranceSeconds) throw new SourceAuthError(`the timestamp is ${-skew} s in the future; the tolerance is ${toleranceSeconds} s`, { code: 'LS_ERR_WEBHOOK_TIMESTAMP' })
  return ts
}

/** Constant-time comparison of two MACs (equal lengths are checked first; the length of a MAC is public). */
export function macEquals (expected: Buffer, given: Buffer): boolean {
  return expected.length === given.length && timingSafeEqual(expected, given)
}

// One parsed Webhook per secret value (secret decoding is not free); bounded, rebuilt as secrets rotate.
const hooks = new Map<string, Webhook>()
function webhookFor (secret: string): Webhook {
  let wh = hooks.get(secret)
  if (wh === undefined) {
    wh = new Webhook(secret)
    if (hooks.size >= 256) hooks.clear()
    hooks.set(secret, wh)
  }
  return wh
}

/** Standard Webhooks secrets: `whsec_` + base64 of 24-64 random bytes. Returns a problem, or null when fine. */
export function checkStandardSecret (secret: string): string | null {
  if (!/^whsec_[A-Za-z0-9+/]{20,}={0,2}$/.test(secret)) return 'a standard webhook signingSecret is whsec_ followed by base64'
  try {
    const bytes = Buffer.from(secret.slice(6), 'base64')
    if (bytes.length < 16 || bytes.length > 64) return 'a standard webhook signingSecret decodes to 16-64 bytes'
    webhookFor(secret)
  } catch {
    return 'the standard webhook signingSecret is not valid base64'
  }
  return null
}

/**
 * Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp`, `webhook-signature` with
 * space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>` entries (several during a sender's rotation).
 * The package computes the MAC; this wrapper adds what it lacks: a strict integer timestamp checked against the
 * injected clock, a bounded signature list, a UTF-8 body (the package signs `body.toString()`, which would map
 * invalid bytes to U+FFFD), ids that cannot shift the signed string, and constant-time comparison of raw MAC bytes.
 */
export const standard: Adapter = {
  verify (req, secrets, nowMs, tolerance) {
    const absent = ['webhook-id', 'webhook-timestamp', 'webhook-signature'].filter((h) => req.headers[h] === undefined)
    if (absent.length > 0) throw missing(absent.join(', '))
    const id = single(req, 'webhook-id')!
    const tsText = single(req, 'webhook-timestamp')!
    const sigHeader = single(req, 'webhook-signature')!
    if (!DELIVERY_ID_RE.test(id)) throw malformed('webhook-id must be 1-128 printable ASCII characters without spaces or dots')
    const ts = checkTimestamp(tsText, nowMs, tolerance, 'webhook-timestamp')
    if (sigHeader.length > MAX_SIGNATURE_HEADER) throw malformed(`webhook-signature is longer than ${MAX_SIGNATURE_HEADER} characters`)
    const entries = sigHeader.split(' ').filter((e) => e !== '')
    if (entries.length === 0) throw malformed('webhook-signature is empty')
    if (entries.length > MAX_SIGNATURES) throw malformed(`webhook-signature has more than ${MAX_SIGNATURES} entries`)
    const given: Buffer[] = []
    for (const e of entries) {
      const comma = e.indexOf(',')
      if (comma <= 0) throw malformed('webhook-signature entries look like v1,<base64>')
      if (e.slice(0, comma) !== 'v1') continue // other schemes (v1a: asymmetric) are not ours to check
      const b64 = e.slice(comma + 1)
      if (/^[A-Za-z0-9+/]{43}=$/.test(b64)) given.push(Buffer.from(b64, 'base64'))
    }
    if (given.length === 0) throw badSignature('no well-formed v1 signature')
    try { utf8.decode(req.rawBody) } catch { throw badSignature('the body is not valid UTF-8, so it cannot match a signature') }
    const at = new Date(ts * 1000)
    for (const secret of secrets) {
      const expected = Buffer.from(webhookFor(secret).sign(id, at, req.rawBody).slice(3), 'base64')
      let match = false
      for (const g of given) match = macEquals(expected, g) || match // no early exit: every entry is compared
      if (match) return
    }
    throw badSignature('no signature matches the body with a valid secret')
  },
  identify: (req) => ({ deliveryId: single(req, 'webhook-id')! }),
  defaults: {
    email: ['data.email', 'data.user.email', 'data.customer.email', 'data.lead.email', 'email'],
    name: ['data.name', 'data.user.name', 'data.customer.name', 'name'],
    company: ['data.company', 'data.company.name', 'company'],
    type: ['type', 'event', 'eventType'],
    occurredAt: ['timestamp', 'occurredAt', 'data.occurredAt'],
    properties: ['data', ''],
  },
}

/**
 * Stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">[,v1=…]`, keyed with the endpoint secret as
 * it is written (`whsec_…`, not decoded). The event id (`evt_…`) in the body is the delivery's identity: Stripe
 * resends the same event id when it retries.
 */
export const stripe: Adapter = {
  verify (req, secrets, nowMs, tolerance) {
    const header = single(req, 'stripe-signature')
    if (header === undefined) throw missing('stripe-signature')
    if (header.length > MAX_SIGNATURE_HEADER) throw malformed(`stripe-signature is longer than ${MAX_SIGNATURE_HEADER} characters`)
    const parts = header.split(',')
    if (parts.length > MAX_SIGNATURES) throw malformed(`stripe-signature has more than ${MAX_SIGNATURES} entries`)
    let t: string | undefined
    const given: Buffer[] = []
    for (const part of parts) {
      const eq = part.indexOf('=')
      if (eq <= 0) throw malformed('stripe-signature entries look like t=<unix> or v1=<hex>')
      const k = part.slice(0, eq).trim()
      const v = part.slice(eq + 1).trim()
      if (k === 't') {
        if (t !== undefined) throw malformed('stripe-signature has two timestamps')
        t = v
      } else if (k === 'v1' && /^[0-9a-f]{64}$/.test(v)) {
        given.push(Buffer.from(v, 'hex'))
      }
    }
    if (t === undefined) throw malformed('stripe-signature has no t=<timestamp>')
    checkTimestamp(t, nowMs, tolerance, 'stripe-signature t')
    if (given.length === 0) throw badSignature('no well-formed v1 signature')
    for (const secret of secrets) {
      const expected = createHmac('sha256', secret).update(`${t}.`).update(req.rawBody).digest()
      let match = false
      for (const g of given) match = macEquals(expected, g) || match
      if (match) return
    }
    throw badSignature('no signature matches the body with a valid secret')
  },
  identify: () => ({}),
  defaults: {
    externalId: 'id',
    type: 'type',
    occurredAt: 'created',
    email: ['data.object.customer_email', 'data.object.customer_details.email', 'data.object.receipt_email', 'data.object.billing_details.email', 'data.object.email'],
    leadExternalId: 'data.object.customer',
    leadExternalIdPrefix: 'stripe:',
    name: ['data.object.customer_details.name', 'data.object.billing_details.name', 'data.object.name'],
    properties: 'data.object',
  },
}

/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. Only the body is signed: GitHub sends no
 * timestamp, and `X-GitHub-Delivery` and `X-GitHub-Event` are not covered by the signature, so anyone who saw one
 * delivery could resend it under a new delivery id or event name. The event's externalId is therefore a hash of the
 * signed body (`gh_<sha256 hex>`): a replay, renamed or retyped, is a duplicate. The type is the `X-GitHub-Event`
 * header (of the first delivery of a body), with the payload's `action` appended when present (`pull_request.opened`).
 */
/** The identity of a GitHub delivery: a hash of the bytes the signature covers (the delivery id header is unsigned). */
export function githubDeliveryKey (rawBody: Buffer): string {
  return `gh_${createHash('sha256').update(rawBody).digest('hex')}`
}

export const github: Adapter = {
  verify (req, secrets) {
    const sig = single(req, 'x-hub-signature-256')
    const delivery = single(req, 'x-github-delivery')
    const event = single(req, 'x-github-event')
    const absent = [sig === undefined ? 'x-hub-signature-256' : '', delivery === undefined ? 'x-github-delivery' : '', event === undefined ? 'x-github-event' : ''].filter((h) => h !== '')
    if (absent.length > 0) throw missing(absent.join(', '))
    if (!/^sha256=[0-9a-f]{64}$/.test(sig!)) throw malformed('x-hub-signature-256 looks like sha256=<64 hex digits>')
    if (!DELIVERY_ID_RE.test(delivery!)) throw malformed('x-github-delivery must be 1-128 printable ASCII characters without spaces or dots')
    if (!/^[a-z_]{1,64}$/.test(event!)) throw malformed('x-github-event is not an event name')
    const given = Buffer.from(sig!.slice(7), 'hex')
    for (const secret of secrets) {
      const expected = createHmac('sha256', secret).update(req.rawBody).digest()
      if (macEquals(expected, given)) return
    }
    throw badSignature('no signature matches the body with a valid secret')
  },
  identify: (req) => ({ deliveryId: githubDeliveryKey(req.rawBody), headerType: single(req, 'x-github-event')! }),
  defaults: {
    email: ['pusher.email', 'head_commit.author.email', 'sender.email'],
    leadExternalId: 'sender.login',
    leadExternalIdPrefix: 'github:',
    name: ['sender.name', 'pusher.name'],
    pick: {
      action: 'action',
      repository: 'repository.full_name',
      sender: 'sender.login',
      ref: 'ref',
      url: ['pull_request.html_url', 'issue.html_url', 'release.html_url', 'compare', 'repository.html_url'],
      title: ['pull_request.title', 'issue.title', 'release.name'],
    },
  },
}

export const ADAPTERS: Readonly<Record<AdapterName, Adapter>> = { standard, stripe, github }
