// Helpers for source tests: create sources through the API, sign deliveries the way real senders do (the
// standardwebhooks package for Standard Webhooks; hand-computed HMACs for Stripe and GitHub), and send them over a
// real HTTP connection.
import { createHmac } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { Webhook } from 'standardwebhooks'
import { AUTH } from './harness.js'

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** A clock the app reads (CoreOptions.now) that a test can move forward. */
export class TestClock {
  offsetMs = 0
  private frozenAt: number | null = null
  readonly now = (): Date => new Date(this.frozenAt ?? Date.now() + this.offsetMs)
  /** Stops the clock at its current time (advance() still moves it). */
  freeze (): void { this.frozenAt = this.now().getTime() }
  advance (ms: number): void {
    if (this.frozenAt !== null) this.frozenAt += ms
    else this.offsetMs += ms
  }

  /** Unix seconds of the clock. */
  unix (): number { return Math.floor(this.now().getTime() / 1000) }
}

/** Creates a source through the API; returns the created body (with its secretValues). */
export async function createSource (app: FastifyInstance, body: Json): Promise<Json> {
  const res = await app.inject({ method: 'POST', url: '/v1/sources', headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify(body) })
  if (res.statusCode !== 201) throw new Error(`creating a source failed: ${res.statusCode} ${res.body}`)
  return res.json<Json>()
}

export async function getSource (app: FastifyInstance, id: string): Promise<Json> {
  const res = await app.inject({ url: `/v1/sources/${id}`, headers: AUTH })
  if (res.statusCode !== 200) throw new Error(`GET source failed: ${res.statusCode} ${res.body}`)
  return res.json<Json>()
}

/** Waits until a source's counters (which a process writes in the background) satisfy `ok`. */
export async function waitForStats (app: FastifyInstance, id: string, ok: (s: Json) => boolean, timeoutMs = 10_000): Promise<Json> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const s = (await getSource(app, id)).stats as Json
    if (ok(s)) return s
    if (Date.now() > deadline) throw new Error(`source stats did not settle: ${JSON.stringify(s)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Starts the app on a loopback port; returns its base URL. */
export async function listen (app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const a = app.server.address() as AddressInfo
  return `http://127.0.0.1:${a.port}`
}

export interface HttpResult { status: number; headers: Headers; body: Json; text: string }

/** A real HTTP POST with exact body bytes. */
export async function post (url: string, body: string | Buffer, headers: Record<string, string>): Promise<HttpResult> {
  const res = await fetch(url, { method: 'POST', headers, body })
  const text = await res.text()
  let parsed: Json = {}
  try { parsed = JSON.parse(text) as Json } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, body: parsed, text }
}

/**
 * Standard Webhooks headers for a body, signed with the standardwebhooks package: with each secret given (space
 * separated, as a sender mid-rotation signs), all over the one timestamp sent.
 */
export function standardHeaders (secrets: string | readonly string[], id: string, unixSeconds: number, body: string): Record<string, string> {
  const at = new Date(unixSeconds * 1000)
  const signature = (typeof secrets === 'string' ? [secrets] : secrets).map((s) => new Webhook(s).sign(id, at, body)).join(' ')
  return { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(unixSeconds), 'webhook-signature': signature }
}

/** A Stripe-Signature header computed by hand: HMAC-SHA256 of `t.body` keyed with the secret string. */
export function stripeHeader (secret: string, t: number, body: string | Buffer): string {
  const mac = createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex')
  return `t=${t},v1=${mac}`
}

/** An X-Hub-Signature-256 header computed by hand. */
export function githubSignature (secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

/** Creates an API key with the given scopes; returns its Authorization header. */
export async function keyWithScopes (app: FastifyInstance, scopes: string[]): Promise<Record<string, string>> {
  const res = await app.inject({ method: 'POST', url: '/v1/api-keys', headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify({ name: `k-${scopes.join('-')}`, scopes }) })
  if (res.statusCode !== 201) throw new Error(`creating a key failed: ${res.body}`)
  return { authorization: `Bearer ${res.json<Json>().key as string}` }
}
