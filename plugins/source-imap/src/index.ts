import { createHash } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import { ImapFlow, type FetchMessageObject } from 'imapflow'
import { defineSourcePlugin, pluginErrorKind, PermanentSourceError, SourceAuthError, TransientSourceError, type EventInput, type PluginContext } from '@leadscore/server/contracts'

export const ImapConfig = Type.Object({
  host: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:[\\]-]+$' }),
  port: Type.Integer({ minimum: 1, maximum: 65535, default: 993 }),
  secure: Type.Boolean({ default: true, description: 'TLS from the start (port 993). false: a plain connection that must be upgraded with STARTTLS (see allowInsecure)' }),
  allowInsecure: Type.Boolean({ default: false, description: 'with secure false: log in over a plain connection when the server offers no STARTTLS (the password goes in clear). Only for a server on a trusted network' }),
  servername: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.-]+$', description: 'the name the TLS certificate must carry; defaults to host' })),
  rejectUnauthorized: Type.Boolean({ default: true, description: 'refuse TLS certificates that do not verify' }),
  user: Type.String({ minLength: 1, maxLength: 320 }),
  password: Type.String({ minLength: 1, maxLength: 1000, description: 'write-only; an app password where the provider offers them' }),
  mailbox: Type.String({ minLength: 1, maxLength: 200, default: 'INBOX' }),
  every: Type.String({ pattern: '^[1-9]\\d{0,8}(s|m|h|d)$', default: '1m', description: 'poll period (at least 10s)' }),
  eventType: Type.String({ minLength: 1, maxLength: 100, default: 'email_reply' }),
  repliesOnly: Type.Boolean({ default: true, description: 'only messages that answer another one (In-Reply-To or References); others are skipped' }),
  ignoreFrom: Type.Array(Type.String({ minLength: 2, maxLength: 254 }), { default: [], maxItems: 200, description: 'sender addresses, or @domains, whose messages are skipped (your own team, no-reply senders)' }),
  batchSize: Type.Integer({ minimum: 1, maximum: 1000, default: 200, description: 'messages read per fetch (more are read right after)' }),
}, { additionalProperties: false })
type Config = typeof ImapConfig.static

/** The cursor: the mailbox's UIDVALIDITY and the highest UID whose message was handed over. */
interface Cursor { v: string; uid: number }

function parseCursor (text: string | null): Cursor | null {
  if (text === null) return null
  try {
    const c = JSON.parse(text) as Partial<Cursor>
    return typeof c.v === 'string' && Number.isInteger(c.uid) && (c.uid ?? -1) >= 0 ? { v: c.v, uid: c.uid! } : null
  } catch { return null }
}

const sha = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex')

/** The event id of a message: its Message-ID (the same in every folder and after a resync), or a hash of its source. */
function messageKey (messageId: string | undefined, source: Buffer | undefined): string | undefined {
  if (messageId !== undefined) {
    const id = messageId.trim().replace(/^<|>$/g, '')
    // eslint-disable-next-line no-control-regex
    if (id !== '' && id.length <= 128 && !/[\u0000-\u001f\u007f]/.test(id)) return id
    if (id !== '') return `mid:${sha(id).slice(0, 40)}`
  }
  return source !== undefined ? `src:${sha(source).slice(0, 40)}` : undefined
}

function hasReferences (headers: Buffer | undefined): boolean {
  return headers !== undefined && /^references:[ \t]*\S/im.test(headers.toString('utf8'))
}

function ignored (address: string, list: readonly string[]): boolean {
  const a = address.toLowerCase()
  return list.some((x) => x.startsWith('@') ? a.endsWith(x.toLowerCase()) : a === x.toLowerCase())
}

/** Classifies what imapflow throws: login refused, mailbox missing, TLS refused, or (anything else) a temporary failure. */
function classify (err: unknown, stage: 'connect' | 'mailbox' | 'read'): Error {
  const e = err as { authenticationFailed?: boolean; serverResponseCode?: string; responseText?: string; code?: string; message?: string }
  const text = `${e.responseText ?? ''} ${e.message ?? ''}`
  // "[UNAVAILABLE] Temporary authentication failure" is the server's problem, not the credentials'
  if ((err as { tlsFailed?: boolean }).tlsFailed === true) {
    return new PermanentSourceError(`the IMAP server offers no STARTTLS (${e.message ?? 'no TLS'}); the password was not sent. Use TLS, or set allowInsecure: true for a trusted server`, { code: 'LS_ERR_IMAP_INSECURE', cause: err })
  }
  if (e.authenticationFailed === true && e.serverResponseCode !== 'UNAVAILABLE') return new SourceAuthError('the IMAP server refused the login', { code: 'LS_ERR_IMAP_LOGIN', cause: err })
  if (stage === 'mailbox' && (e.serverResponseCode === 'NONEXISTENT' || /doesn't exist|does not exist|not found|unknown mailbox/i.test(text))) {
    return new PermanentSourceError('the mailbox does not exist', { code: 'LS_ERR_IMAP_MAILBOX', cause: err })
  }
  if (typeof e.code === 'string' && /^(CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|ERR_TLS_CERT_ALTNAME_INVALID)/.test(e.code)) {
    return new PermanentSourceError(`the IMAP server's TLS certificate was refused (${e.code})`, { code: 'LS_ERR_IMAP_TLS', cause: err })
  }
  return new TransientSourceError(`IMAP ${stage} failed: ${e.code ?? e.message ?? 'unknown error'}`, { code: 'LS_ERR_IMAP_CONNECTION', cause: err })
}

function toEvent (m: FetchMessageObject, key: string | undefined, c: Config): EventInput | null {
  const env = m.envelope
  const from = env?.from?.[0]
  const address = from?.address?.trim()
  if (address !== undefined && ignored(address, c.ignoreFrom)) return null
  const isReply = (env?.inReplyTo ?? '') !== '' || hasReferences(m.headers)
  if (c.repliesOnly && !isReply) return null
  const lead: EventInput['lead'] = {}
  // a message without a usable From becomes an event ingest refuses with a reason (stored, not dropped)
  if (address !== undefined && address !== '') lead.email = address
  if (from?.name !== undefined && from.name.trim() !== '') lead.name = from.name.trim()
  const date = env?.date instanceof Date && !Number.isNaN(env.date.getTime()) ? env.date : m.internalDate instanceof Date ? m.internalDate : undefined
  const ev: EventInput = {
    lead,
    type: c.eventType,
    properties: {
      subject: env?.subject ?? '',
      messageId: env?.messageId ?? null,
      inReplyTo: env?.inReplyTo ?? null,
      to: (env?.to ?? []).map((a) => a.address ?? '').filter((a) => a !== ''),
      mailbox: c.mailbox,
    },
  }
  if (key !== undefined) ev.externalId = key
  if (date !== undefined) ev.occurredAt = date.toISOString()
  return ev
}

async function fetchNew (cursor: string | null, ctx: PluginContext<Config>) {
  const c = ctx.config
  const client = new ImapFlow({
    host: c.host, port: c.port, secure: c.secure, auth: { user: c.user, pass: c.password }, logger: false,
    ...(c.servername !== undefined ? { servername: c.servername } : {}),
    // without implicit TLS, STARTTLS is required (the login fails before credentials are sent) unless allowInsecure
    ...(!c.secure && !c.allowInsecure ? { doSTARTTLS: true } : {}),
    tls: { rejectUnauthorized: c.rejectUnauthorized }, connectionTimeout: 15_000, greetingTimeout: 15_000, socketTimeout: 120_000, disableAutoIdle: true,
  })
  client.on('error', (err: unknown) => { ctx.log.debug({ err }, 'IMAP connection error') }) // also surfaced by the pending command
  const onAbort = (): void => { client.close() }
  ctx.signal.addEventListener('abort', onAbort, { once: true })
  try {
    try { await client.connect() } catch (err) { throw classify(err, 'connect') }
    let validity: string
    try {
      const box = await client.mailboxOpen(c.mailbox, { readOnly: true })
      validity = box.uidValidity.toString()
    } catch (err) { throw classify(err, 'mailbox') }
    try {
      const prev = parseCursor(cursor)
      let after = prev?.uid ?? 0
      if (prev !== null && prev.v !== validity) {
        // UIDs of the old UIDVALIDITY mean nothing now: read the mailbox again; messages already stored are
        // recognised by their Message-ID (the event id) and answered as duplicates
        ctx.log.warn({ mailbox: c.mailbox, was: prev.v, now: validity }, 'UIDVALIDITY changed; reading the mailbox again')
        after = 0
      }
      const found = await client.search({ uid: `${after + 1}:*` }, { uid: true })
      // `n:*` also matches the highest UID when it is below n
      const uids = (Array.isArray(found) ? found : []).filter((u) => u > after).sort((a, b) => a - b)
      const batch = uids.slice(0, c.batchSize)
      const events: EventInput[] = []
      if (batch.length > 0) {
        const msgs = (await client.fetchAll(batch.join(','), { uid: true, envelope: true, internalDate: true, headers: ['references'] }, { uid: true })).sort((a, b) => a.uid - b.uid)
        const noId = msgs.filter((m) => messageKey(m.envelope?.messageId, undefined) === undefined).map((m) => m.uid)
        const sources = new Map<number, Buffer>()
        if (noId.length > 0) {
          for (const m of await client.fetchAll(noId.join(','), { uid: true, source: true }, { uid: true })) if (m.source !== undefined) sources.set(m.uid, m.source)
        }
        for (const m of msgs) {
          const ev = toEvent(m, messageKey(m.envelope?.messageId, sources.get(m.uid)), c)
          if (ev !== null) events.push(ev)
        }
      }
      const last = batch.length > 0 ? batch[batch.length - 1]! : after
      return { events, cursor: JSON.stringify({ v: validity, uid: last } satisfies Cursor), more: uids.length > batch.length }
    } catch (err) { throw pluginErrorKind(err) !== null ? err : classify(err, 'read') }
  } finally {
    ctx.signal.removeEventListener('abort', onAbort)
    await client.logout().catch(() => { client.close() })
  }
}

/**
 * The IMAP source: polls a mailbox and turns replies from leads into `email_reply` events (subject, Message-ID). The
 * cursor is the mailbox's UIDVALIDITY and the last UID read, stored by the host only after the events are ingested;
 * when UIDVALIDITY changes, the mailbox is read again and already stored messages are duplicates by Message-ID.
 */
export const imapSource = defineSourcePlugin({
  kind: 'source',
  manifest: { id: 'imap', version: '1.0.0', contract: 1, config: ImapConfig, secrets: ['password'] },
  generateSecret: () => null, // only the mailbox's owner knows it
  checkConfig (config) {
    const problems: string[] = []
    const m = /^(\d+)(s|m|h|d)$/.exec(config.every)
    if (m !== null && m[2] === 's' && Number(m[1]) < 10) problems.push('every must be at least 10s')
    if (!config.secure && config.port === 993) problems.push('port 993 is IMAP over TLS: set secure to true')
    return problems
  },
  poll: {
    every: (config) => config.every,
    fetch: fetchNew,
  },
})

export default imapSource
