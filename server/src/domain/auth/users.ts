import { randomBytes } from 'node:crypto'
import type { Collection } from 'mongodb'
import type { Role, Scope, SessionDoc, UserDoc } from '../types.js'
import { newId, sha256 } from '../../lib/ids.js'
import { findByIds, isDuplicateKey } from '../../infra/db.js'
import type { Principal } from './api-keys.js'
import { PasswordHashBusy, generatePassword, hashPassword, needsRehash, verifyPassword } from './passwords.js'
import { LoginThrottle } from './login-throttle.js'
import {
  LS_ERR_LAST_ADMIN, LS_ERR_LOGIN_FAILED, LS_ERR_LOGIN_THROTTLED, LS_ERR_USER_EXISTS, LS_ERR_USER_NOT_FOUND, LS_ERR_VALIDATION,
} from '../../errors.js'

export const ROLES: readonly Role[] = ['admin', 'author', 'viewer']

/** What each console role may do, as API scopes. */
export const ROLE_SCOPES: Readonly<Record<Role, readonly Scope[]>> = Object.freeze({
  admin: ['admin'],
  author: ['read', 'ingest', 'rules'],
  viewer: ['read'],
})

export const DEFAULT_ADMIN_EMAIL = 'admin@localhost'

/** A session lives 12 hours after its last use, and never more than 7 days after sign-in. */
export const SESSION_IDLE_MS = 12 * 3_600_000
export const SESSION_MAX_MS = 7 * 24 * 3_600_000
// lastSeenAt/expiresAt are written at most this often, so reads stay reads
const TOUCH_EVERY_MS = 5 * 60_000

// a sign-in waits this long at most for a password-hashing slot, then is answered 429 (retry shortly): room for the 16
// that may wait on an idle machine, with margin for a busy one (timings: docs/architecture.md, section 6)
const SIGN_IN_HASH_WAIT_MS = 10_000

export { hashPassword, verifyPassword, generatePassword } from './passwords.js'

/** A refused sign-in; `retryAfter` (seconds) is sent as the Retry-After header. */
export function loginThrottled (retryAfter: number, detail?: string): InstanceType<typeof LS_ERR_LOGIN_THROTTLED> & { retryAfter: number } {
  const err = Object.assign(new LS_ERR_LOGIN_THROTTLED(retryAfter), { retryAfter })
  if (detail !== undefined) err.message = detail
  return err
}

export function normalizeUserEmail (email: string): string | null {
  const e = email.trim().toLowerCase()
  return /^[^@\s]{1,64}@[^@\s]{1,190}$/.test(e) ? e : null
}

/** A user as the API shows it (never the password hash). */
export interface PublicUser { id: string; email: string; name: string; role: Role; disabled: boolean; createdAt: string; updatedAt: string; lastLoginAt: string | null }

export function userOut (u: UserDoc): PublicUser {
  return {
    id: u._id, email: u.email, name: u.name, role: u.role, disabled: u.disabled, createdAt: u.createdAt.toISOString(),
    updatedAt: u.updatedAt.toISOString(), lastLoginAt: u.lastLoginAt?.toISOString() ?? null,
  }
}

/** The principal of a signed-in user: their id and email, their role's scopes. */
export function sessionPrincipal (u: UserDoc, sessionId: string): Principal {
  return { keyId: u._id, name: u.email, scopes: [...ROLE_SCOPES[u.role]], user: { id: u._id, email: u.email, name: u.name, role: u.role, sessionId } }
}

export interface UserServiceDeps { users: Collection<UserDoc>; sessions: Collection<SessionDoc>; now: () => Date }

export function createUserService ({ users, sessions, now }: UserServiceDeps) {
  const throttle = new LoginThrottle(() => now().getTime())
  // unknown emails are checked against this hash, so they take as long as known ones
  let dummy: Promise<string> | null = null
  const dummyHash = (): Promise<string> => (dummy ??= hashPassword(generatePassword()))
  // told when this process ends sessions, so open WebSocket connections on them are closed at once
  const endedListeners = new Set<() => void>()
  const sessionsEnded = (): void => { for (const fn of endedListeners) fn() }

  async function mustGet (id: string): Promise<UserDoc> {
    const u = await users.findOne({ _id: id })
    if (u === null) throw new LS_ERR_USER_NOT_FOUND(id)
    return u
  }

  async function otherActiveAdmins (id: string): Promise<number> {
    return await users.countDocuments({ role: 'admin', disabled: false, _id: { $ne: id } })
  }

  async function create (input: { email: string; name?: string | undefined; role: Role; password: string }): Promise<UserDoc> {
    const email = normalizeUserEmail(input.email)
    if (email === null) throw new LS_ERR_VALIDATION('email is not a valid email address')
    const t = now()
    const doc: UserDoc = {
      _id: newId('usr'), email, name: input.name?.trim() || email.split('@')[0]!, role: input.role,
      passwordHash: await hashPassword(input.password), disabled: false, createdAt: t, updatedAt: t, lastLoginAt: null,
    }
    try {
      await users.insertOne(doc)
    } catch (err) {
      if (isDuplicateKey(err)) throw new LS_ERR_USER_EXISTS(email)
      throw err
    }
    return doc
  }

  return {
    get: mustGet,
    create,
    async list (): Promise<UserDoc[]> {
      return await users.find({}).sort({ email: 1 }).limit(1000).toArray()
    },

    async hasAdmin (): Promise<boolean> {
      return await users.findOne({ role: 'admin', disabled: false }) !== null
    },

    /**
     * Creates the first admin when no active admin user exists: from the given email/password, else admin@localhost
     * with a random password. Returns what was created (the password only when generated), or null.
     */
    async ensureInitialAdmin (given: { email?: string | undefined; password?: string | undefined }): Promise<{ email: string; password: string | null } | null> {
      dummyHash().catch(() => { dummy = null })
      if (await users.findOne({ role: 'admin', disabled: false }) !== null) return null
      const email = normalizeUserEmail(given.email ?? DEFAULT_ADMIN_EMAIL) ?? DEFAULT_ADMIN_EMAIL
      const password = given.password ?? generatePassword()
      try {
        await create({ email, name: 'Admin', role: 'admin', password })
      } catch (err) {
        // another process created it first, or a disabled/non-admin user holds the email: make it an active admin
        if ((err as { code?: string }).code !== 'LS_ERR_USER_EXISTS') throw err
        const existing = await users.findOne({ email })
        if (existing === null || (existing.role === 'admin' && !existing.disabled)) return null
        await users.updateOne({ _id: existing._id }, { $set: { role: 'admin', disabled: false, passwordHash: await hashPassword(password), updatedAt: now() } })
        await sessions.deleteMany({ userId: existing._id })
        sessionsEnded()
      }
      return { email, password: given.password === undefined ? password : null }
    },

    async update (id: string, patch: { name?: string | undefined; role?: Role | undefined; password?: string | undefined; disabled?: boolean | undefined }): Promise<UserDoc> {
      const u = await mustGet(id)
      const losesAdmin = u.role === 'admin' && !u.disabled && ((patch.role !== undefined && patch.role !== 'admin') || patch.disabled === true)
      if (losesAdmin && await otherActiveAdmins(id) === 0) throw new LS_ERR_LAST_ADMIN()
      const set: Partial<UserDoc> = { updatedAt: now() }
      if (patch.name !== undefined) set.name = patch.name.trim() || u.name
      if (patch.role !== undefined) set.role = patch.role
      if (patch.disabled !== undefined) set.disabled = patch.disabled
      if (patch.password !== undefined) set.passwordHash = await hashPassword(patch.password)
      const after = await users.findOneAndUpdate({ _id: id }, { $set: set }, { returnDocument: 'after' })
      if (after === null) throw new LS_ERR_USER_NOT_FOUND(id)
      // a new password or a disabled account ends every session of the user; role changes apply at the next request
      if (patch.password !== undefined || patch.disabled === true) {
        await sessions.deleteMany({ userId: id })
        sessionsEnded()
      }
      return after
    },

    async remove (id: string): Promise<UserDoc> {
      const u = await mustGet(id)
      if (u.role === 'admin' && !u.disabled && await otherActiveAdmins(id) === 0) throw new LS_ERR_LAST_ADMIN()
      await sessions.deleteMany({ userId: id })
      await users.deleteOne({ _id: id })
      sessionsEnded()
      return u
    },

    /**
     * Checks an email and password and opens a session. Unknown emails, disabled users and wrong passwords take the
     * same path (one scrypt) and fail alike. The attempt is counted before the password is hashed, per client
     * address and email and per client address, so parallel guesses are throttled as they arrive; one that finds
     * no free hashing slot in time is refused (429) without counting.
     */
    async login (emailInput: string, password: string, address: string): Promise<{ token: string; user: UserDoc; expiresAt: Date }> {
      const email = normalizeUserEmail(emailInput) ?? emailInput.trim().toLowerCase().slice(0, 254)
      const attempt = throttle.begin(address, email)
      if ('retryAfter' in attempt) throw loginThrottled(attempt.retryAfter)
      let u: UserDoc | null
      let ok: boolean
      try {
        u = await users.findOne({ email })
        ok = await verifyPassword(password, u?.passwordHash ?? await dummyHash(), { waitMs: SIGN_IN_HASH_WAIT_MS })
      } catch (err) {
        attempt.abandoned()
        if (err instanceof PasswordHashBusy) throw loginThrottled(1, 'Too many sign-ins are being checked at once; retry in 1 second')
        throw err
      }
      if (u === null || !ok || u.disabled) {
        attempt.failed()
        throw new LS_ERR_LOGIN_FAILED()
      }
      attempt.succeeded()
      // a hash made at an older cost is replaced now that the password is known (only if it was not changed meanwhile)
      if (needsRehash(u.passwordHash)) {
        await users.updateOne({ _id: u._id, passwordHash: u.passwordHash }, { $set: { passwordHash: await hashPassword(password) } })
      }
      const t = now()
      const token = `lss_${randomBytes(32).toString('base64url')}`
      const expiresAt = new Date(t.getTime() + SESSION_IDLE_MS)
      await sessions.insertOne({ _id: sha256(token), userId: u._id, createdAt: t, lastSeenAt: t, expiresAt })
      await users.updateOne({ _id: u._id }, { $set: { lastLoginAt: t } })
      // expired sessions are purged here rather than by TTL indexes, which FerretDB lacks
      await sessions.deleteMany({ expiresAt: { $lt: t } })
      return { token, user: u, expiresAt }
    },

    /** The user behind a session token, or null when the session is unknown, expired or its user disabled. */
    async authenticate (token: string): Promise<{ user: UserDoc; sessionId: string } | null> {
      if (!/^lss_[A-Za-z0-9_-]{20,100}$/.test(token)) return null
      const id = sha256(token)
      const s = await sessions.findOne({ _id: id })
      const t = now()
      if (s === null || s.expiresAt.getTime() <= t.getTime()) return null
      const u = await users.findOne({ _id: s.userId })
      if (u === null || u.disabled) return null
      if (t.getTime() - s.lastSeenAt.getTime() > TOUCH_EVERY_MS) {
        const expiresAt = new Date(Math.min(t.getTime() + SESSION_IDLE_MS, s.createdAt.getTime() + SESSION_MAX_MS))
        await sessions.updateOne({ _id: id }, { $set: { lastSeenAt: t, expiresAt } })
      }
      return { user: u, sessionId: id }
    },

    async logout (token: string): Promise<void> {
      await sessions.deleteOne({ _id: sha256(token) })
      sessionsEnded()
    },

    /** Calls `fn` after this process ends sessions (sign-out, user disabled, deleted or given a new password). */
    onSessionsEnded (fn: () => void): () => void {
      endedListeners.add(fn)
      return () => { endedListeners.delete(fn) }
    },

    /**
     * Of these session ids, those still open (not expired, user present and enabled), with their user. Read as is,
     * without extending the sessions: an open WebSocket re-checks its session with it, and is not a use.
     */
    async openSessions (ids: readonly string[]): Promise<Map<string, { user: UserDoc; sessionId: string }>> {
      const t = now().getTime()
      const open = (await findByIds(sessions, ids)).filter((s) => s.expiresAt.getTime() > t)
      const owners = new Map((await findByIds(users, [...new Set(open.map((s) => s.userId))])).filter((u) => !u.disabled).map((u) => [u._id, u]))
      const out = new Map<string, { user: UserDoc; sessionId: string }>()
      for (const s of open) {
        const user = owners.get(s.userId)
        if (user !== undefined) out.set(s._id, { user, sessionId: s._id })
      }
      return out
    },
  }
}

export type UserService = ReturnType<typeof createUserService>
